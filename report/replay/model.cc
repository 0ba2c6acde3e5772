// report/replay/model.cc: see model.h. The replay itself is the Replayer (replayer.h).
#include "report/replay/model.h"

#include <algorithm>
#include <cmath>

#include "report/reader/recording_reader.h"
#include "report/replay/replayer.h"

namespace allocwatch::report {

double SampledWeight(uint64_t size, uint64_t period) {
  if (size == 0) return 1.0;
  double p = -std::expm1(-static_cast<double>(size) / static_cast<double>(period));
  return 1.0 / p;
}

void SiteFigures::Add(const SiteFigures& o) {
  alloc_count += o.alloc_count, alloc_bytes += o.alloc_bytes;
  live_count += o.live_count, live_bytes += o.live_bytes;
  samples += o.samples, live_samples += o.live_samples;
  mapped_bytes += o.mapped_bytes, mapped_live_bytes += o.mapped_live_bytes;
  reserved_live_bytes += o.reserved_live_bytes, discarded_live_bytes += o.discarded_live_bytes;
  mmap_calls += o.mmap_calls;
  alloc_count_var += o.alloc_count_var, alloc_bytes_var += o.alloc_bytes_var;
  live_count_var += o.live_count_var, live_bytes_var += o.live_bytes_var;
  temporary_count += o.temporary_count;
  newest_live_ns = std::max(newest_live_ns, o.newest_live_ns);
  oldest_live_ns = std::min(oldest_live_ns, o.oldest_live_ns);
}

void AddSeries(const std::vector<SeriesPoint>& points, std::vector<double>& out) {
  for (size_t i = 0; i < points.size(); ++i) {
    size_t end = i + 1 < points.size() ? points[i + 1].sample : out.size();
    for (size_t k = points[i].sample; k < end && k < out.size(); ++k)
      out[k] += points[i].live_bytes;
  }
}

namespace {

// Cut short (killed): what was live some snapshots before the end, to show what grew.
void AddBeforeEnd(ProcessModel& model, const std::string& path, const LoadOptions& options) {
  if (model.ending == Ending::kCutShort && options.until_ns == UINT64_MAX &&
      model.snapshots.size() >= 2) {
    size_t n = model.snapshots.size();
    size_t index = n >= 4 ? n - 4 : 0;
    LoadOptions earlier_options = options;
    earlier_options.until_ns = model.snapshots[index].time_ns;
    ProcessModel earlier = LoadProcess(path, earlier_options);
    model.before_end = std::move(earlier.per_stack);
    model.growth_since_ns = model.snapshots[index].time_ns;
  }
}

}  // namespace

struct FollowedRecording::State {
  std::string path;
  LoadOptions options;
  ProcessModel model;
  RecordingReader reader;
  detail::Replayer replayer;
  State(const std::string& p, const LoadOptions& o)
      : path(p), options(o), reader(p), replayer(model, o) {
    model.path = p;
  }
};

FollowedRecording::FollowedRecording(const std::string& path, const LoadOptions& options)
    : s_(std::make_unique<State>(path, options)) {
  s_->reader.follow(true);
}

FollowedRecording::~FollowedRecording() = default;

bool FollowedRecording::Update(bool read_ahead, const std::atomic<bool>* cancel,
                               uint64_t max_bytes) {
  uint64_t start = s_->reader.offset();
  uint64_t stop = max_bytes < UINT64_MAX - start ? start + max_bytes : UINT64_MAX;
  s_->replayer.Pump(s_->reader, read_ahead, cancel, stop);
  return s_->reader.offset() >= stop;
}

ProcessModel FollowedRecording::Current() const {
  ProcessModel copy = s_->model;
  detail::Replayer replay(s_->replayer, copy);
  replay.Complete(s_->reader.warning());
  return copy;
}

ProcessModel FollowedRecording::Finish() {
  s_->reader.follow(false);
  s_->replayer.Pump(s_->reader, ReadAhead::Worthwhile());
  s_->replayer.Complete(s_->reader.warning());
  ProcessModel model = std::move(s_->model);
  AddBeforeEnd(model, s_->path, s_->options);
  return model;
}

const ProcessModel& FollowedRecording::progress() const { return s_->model; }
uint64_t FollowedRecording::offset() const { return s_->reader.offset(); }
const std::string& FollowedRecording::path() const { return s_->path; }

ProcessModel LoadProcess(const std::string& path, const LoadOptions& options) {
  ProcessModel model;
  model.path = path;
  {
    RecordingReader reader(path);
    detail::Replayer(model, options).Run(reader);
  }
  AddBeforeEnd(model, path, options);
  return model;
}

std::vector<std::pair<uint64_t, uint64_t>> ProcessModel::RecordedWindows() const {
  std::vector<std::pair<uint64_t, uint64_t>> windows;
  bool any_off = false;
  bool on = true;
  uint64_t since = 0;
  for (const Control& c : controls) {
    if (c.recording == on) continue;
    // Stopped from the start: no stretch before the record.
    const bool from_start = c.command == format::kControlReasonStartPaused;
    if (on && !from_start && c.time_ns > since) windows.emplace_back(since, c.time_ns);
    any_off = any_off || !c.recording;
    on = c.recording;
    since = c.time_ns;
  }
  if (!any_off) return {};
  if (on && duration_ns > since) windows.emplace_back(since, duration_ns);
  return windows;
}

const char* CallName(format::Call call) {
  switch (call) {
    case format::Call::kMalloc:
      return "malloc";
    case format::Call::kCalloc:
      return "calloc";
    case format::Call::kRealloc:
      return "realloc";
    case format::Call::kReallocArray:
      return "reallocarray";
    case format::Call::kPosixMemalign:
      return "posix_memalign";
    case format::Call::kAlignedAlloc:
      return "aligned_alloc";
    case format::Call::kMemalign:
      return "memalign";
    case format::Call::kValloc:
      return "valloc";
    case format::Call::kPvalloc:
      return "pvalloc";
    case format::Call::kFree:
      return "free";
    case format::Call::kMmap:
      return "mmap";
    case format::Call::kMmap64:
      return "mmap64";
    case format::Call::kMunmap:
      return "munmap";
    case format::Call::kMremap:
      return "mremap";
    case format::Call::kMprotect:
      return "mprotect";
  }
  return "unknown";
}

}  // namespace allocwatch::report
