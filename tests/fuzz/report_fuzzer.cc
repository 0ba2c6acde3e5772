// tests/fuzz/report_fuzzer.cc: libFuzzer target for the recording reader and the whole report
// pipeline (replay, analysis, text and JSON rendering), symbolization off.
//
// The input is a recording file. Inputs that do not start with the file header get one
// prepended, so the fuzzer spends its time on records rather than on the magic.
// Every input must end in a model and a report, or in a ReadError (the clear message of the
// command); anything else (crash, sanitizer report, leak, hang, runaway memory) is a finding.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "preload/format/record_format.h"
#include "report/analysis/analysis.h"
#include "report/analysis/sites.h"
#include "report/reader/recording_reader.h"
#include "report/render/render.h"
#include "report/replay/model.h"

namespace {

int MemoryFile() {
  static int fd = memfd_create("allocwatch-fuzz", MFD_CLOEXEC);
  return fd;
}

bool WriteInput(int fd, const uint8_t* data, size_t size, bool with_header) {
  if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) return false;
  if (with_header) {
    allocwatch::format::FileHeader h{};
    std::memcpy(h.magic, allocwatch::format::kMagic, sizeof(h.magic));
    h.version = allocwatch::format::kVersion;
    h.header_size = sizeof(h);
    if (write(fd, &h, sizeof(h)) != static_cast<ssize_t>(sizeof(h))) return false;
  }
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace allocwatch;
  int fd = MemoryFile();
  if (fd < 0) __builtin_trap();
  bool has_magic = size >= sizeof(format::kMagic) &&
                   std::memcmp(data, format::kMagic, sizeof(format::kMagic)) == 0;
  if (!WriteInput(fd, data, size, !has_magic)) __builtin_trap();
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    report::ProcessModel model = report::LoadProcess(path);
    report::StackSymbolizer symbols(symbolize::Options{}, /*enabled=*/false);
    for (report::Grouping g :
         {report::Grouping::kFirstOutsideRuntime, report::Grouping::kAllocatingFunction,
          report::Grouping::kFullStack}) {
      report::ReportOptions options;
      options.top = 5;
      options.grouping = g;
      options.stacks = true;  // the per-stack lists that pprof and folded output need
      report::ProcessReport r = report::BuildReport(model, symbols, options);
      std::ostringstream text;
      report::RenderText(r, text);
      std::vector<report::ProcessReport> all{r};
      std::string json = report::RenderJsonDocument(all).dump(
          2, ' ', false, nlohmann::json::error_handler_t::replace);
      if (text.str().empty() || json.empty()) __builtin_trap();
      std::string pprof = report::RenderPprof(all);
      std::ostringstream folded;
      report::RenderFolded(all, report::FoldedMetric::kInuseSpace, folded);
      if (pprof.empty()) __builtin_trap();
    }
  } catch (const report::ReadError& e) {
    // The clear error the command prints. It must say something.
    if (std::strlen(e.what()) == 0) __builtin_trap();
  }
  return 0;
}
