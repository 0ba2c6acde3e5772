// tests/unit/followed_recording_test.cc: a recording read while it is written
// (report::FollowedRecording) gives, once the writer is done, the model LoadProcess gives,
// whatever the points at which the file was read; in between, the records read so far.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <random>
#include <sstream>

#include "report/render/render.h"
#include "report_test_support.h"

namespace allocwatch::unit_test {
namespace {

std::string Json(const report::ProcessModel& model) {
  report::StackSymbolizer symbols{{}, false};
  report::ReportOptions options;
  options.stacks = true;
  report::ProcessReport r = report::BuildReport(model, symbols, options);
  return report::RenderJson(r).dump(1);
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Writes `bytes` into `path` in pieces (cut at random points, through records), calling
// `each` after every piece.
template <typename F>
void WriteInPieces(const std::string& bytes, const std::string& path, uint64_t seed, F each) {
  std::mt19937_64 rng(seed);
  int fd = open(path.c_str(), O_WRONLY | O_TRUNC);
  REQUIRE(fd >= 0);
  size_t at = 0;
  while (at < bytes.size()) {
    size_t n = std::min<size_t>(bytes.size() - at, 1 + rng() % 700);
    REQUIRE(write(fd, bytes.data() + at, n) == static_cast<ssize_t>(n));
    at += n;
    each(at);
  }
  close(fd);
}

TEST_CASE("followed recording: read piece by piece, the same model as read at once", "[follow]") {
  Builder b;
  GrowthRun(b);
  std::string bytes = Slurp(b.Write());
  std::string path = b.Write();  // rewritten piece by piece below
  REQUIRE(truncate(path.c_str(), 0) == 0);
  // The file header must be there for the file to open.
  {
    int fd = open(path.c_str(), O_WRONLY);
    REQUIRE(write(fd, bytes.data(), 16) == 16);
    close(fd);
  }
  report::FollowedRecording followed(path);
  size_t currents = 0;
  WriteInPieces(bytes, path, GENERATE(1u, 2u, 3u), [&](size_t written) {
    followed.Update();
    CHECK(followed.offset() <= written);
    if (written > 400 && written % 5 == 0) {
      // What has been read so far makes a model (the process record is in).
      report::ProcessModel now = followed.Current();
      CHECK(now.warnings.empty());
      CHECK(now.duration_ns <= 10 * kSecond + kSecond / 2);
      ++currents;
    }
  });
  CHECK(currents > 0);
  CHECK(followed.offset() == bytes.size());
  CHECK(Json(followed.Finish()) == Json(report::LoadProcess(path)));
}

TEST_CASE("followed recording: Current leaves the replay going on", "[follow]") {
  Builder b;
  GrowthRun(b);
  std::string whole = Slurp(b.Write());
  std::string path = b.Write();
  size_t half = whole.size() / 2;
  REQUIRE(truncate(path.c_str(), static_cast<off_t>(half)) == 0);
  report::FollowedRecording followed(path);
  followed.Update();
  report::ProcessModel first = followed.Current();
  CHECK(first.ending == report::Ending::kCutShort);
  CHECK(first.totals.alloc_count > 0);
  report::ProcessModel again = followed.Current();
  CHECK(Json(again) == Json(first));  // taking a model changes nothing
  {
    int fd = open(path.c_str(), O_WRONLY | O_APPEND);
    size_t rest = whole.size() - half;
    REQUIRE(write(fd, whole.data() + half, rest) == static_cast<ssize_t>(rest));
    close(fd);
  }
  followed.Update();
  report::ProcessModel end = followed.Finish();
  CHECK(end.ending == report::Ending::kExit);
  CHECK(end.totals.alloc_count > first.totals.alloc_count);
  CHECK(Json(end) == Json(report::LoadProcess(path)));
}

TEST_CASE(
    "followed recording: a cancelled update stops, the next one goes on; reading ahead "
    "gives the same model",
    "[follow]") {
  Builder b;
  GrowthRun(b);
  std::string path = b.Write();
  const bool read_ahead = GENERATE(false, true);
  report::FollowedRecording followed(path);
  std::atomic<bool> cancel{true};
  followed.Update(read_ahead, &cancel);  // cancelled before the first record
  CHECK(followed.progress().pid == 0);
  cancel = false;
  followed.Update(read_ahead, &cancel);
  CHECK(followed.progress().pid == 100);
  CHECK(followed.progress().ending == report::Ending::kExit);
  followed.Update(read_ahead);
  CHECK(Json(followed.Finish()) == Json(report::LoadProcess(path)));
}

TEST_CASE("followed recording: an update with a byte budget stops there, the next goes on",
          "[follow]") {
  Builder b;
  GrowthRun(b);
  std::string path = b.Write();
  const uint64_t size = Slurp(path).size();
  const bool read_ahead = GENERATE(false, true);
  const uint64_t budget = GENERATE(uint64_t{1}, uint64_t{300}, uint64_t{4096});
  report::FollowedRecording followed(path);
  int updates = 0;
  uint64_t last = 0;
  while (followed.Update(read_ahead, nullptr, budget)) {
    // Stopped at the end of the record or batch of events that reached the budget.
    CHECK(followed.offset() >= last + budget);
    CHECK(followed.offset() < last + budget + 4096);
    CHECK(followed.offset() <= size);
    last = followed.offset();
    REQUIRE(++updates < 100000);
  }
  // Its records are small: each update stops within 1 KiB past its budget.
  CHECK(updates >= static_cast<int>(size / (budget + 1024)));
  CHECK(followed.offset() == size);
  CHECK(followed.progress().ending == report::Ending::kExit);
  CHECK(Json(followed.Finish()) == Json(report::LoadProcess(path)));
}

TEST_CASE("followed recording: a record cut short when the writer is done is damage", "[follow]") {
  Builder b;
  GrowthRun(b);
  std::string path = b.Write(/*cut=*/5);
  report::FollowedRecording followed(path);
  followed.Update();
  CHECK(followed.Current().warnings.empty());  // still being written, as far as it knows
  report::ProcessModel end = followed.Finish();
  REQUIRE(end.warnings.size() == 1);
  CHECK(end.truncated_tail);
  CHECK(Json(end) == Json(report::LoadProcess(path)));
}

}  // namespace
}  // namespace allocwatch::unit_test
