// tools/report_command.cc: `allocwatch report RECORDING...` and `allocwatch diff BASE NEW`.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "report/analysis/analysis.h"
#include "report/analysis/cgroup_limit.h"
#include "report/analysis/diff.h"
#include "report/reader/recording_reader.h"
#include "report/reader/tail_merge.h"
#include "report/render/render.h"
#include "report/replay/model.h"
#include "report/symbols/symbol_table.h"
#include "spdlog/spdlog.h"
#include "tools/commands.h"
#include "tools/recordings.h"

namespace allocwatch::tools {

namespace fs = std::filesystem;

std::vector<std::string> ExpandRecordings(const std::vector<std::string>& inputs, bool* ok) {
  std::vector<std::string> files;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (fs::is_directory(input, ec)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(input, ec)) {
        if (entry.path().extension() == ".awtrace") found.push_back(entry.path().string());
      }
      std::sort(found.begin(), found.end());
      if (found.empty()) {
        spdlog::error("{}: no .awtrace recordings in this directory", input);
        *ok = false;
      }
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(input);
    }
  }
  return files;
}

bool ParseByteSize(const std::string& text, uint64_t* bytes) {
  if (text.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !(v >= 0) || !std::isfinite(v)) return false;
  std::string unit(end);
  double scale = 1;
  if (unit == "" || unit == "B") {
    scale = 1;
  } else if (unit == "K" || unit == "KiB" || unit == "k") {
    scale = 1024.0;
  } else if (unit == "M" || unit == "MiB") {
    scale = 1024.0 * 1024;
  } else if (unit == "G" || unit == "GiB") {
    scale = 1024.0 * 1024 * 1024;
  } else if (unit == "T" || unit == "TiB") {
    scale = 1024.0 * 1024 * 1024 * 1024;
  } else {
    return false;
  }
  double b = v * scale;
  if (b >= 1.8e19) return false;
  *bytes = static_cast<uint64_t>(std::llround(b));
  return true;
}

namespace {

report::Grouping ParseGrouping(const std::string& name) {
  if (name == "function") return report::Grouping::kAllocatingFunction;
  if (name == "stack") return report::Grouping::kFullStack;
  return report::Grouping::kFirstOutsideRuntime;
}

bool UseColour(const std::string& mode, bool to_stdout) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  const char* no_colour = std::getenv("NO_COLOR");
  if (no_colour != nullptr && no_colour[0] != '\0') return false;
  return to_stdout && isatty(STDOUT_FILENO) == 1;
}

// Whether the recorded process is alive now: same boot, its pid exists and runs the same file.
bool StillRunning(const report::ProcessModel& m) {
  return m.ending == report::Ending::kCutShort &&
         report::ProcessStillRunning(m.pid, m.exe, m.boot_id);
}

}  // namespace

void MergeTailOf(const std::string& recording, FollowedRecordings* followed) {
  report::TailMerge m = report::MergeTail(recording);
  if (!m.warning.empty()) spdlog::warn("{}", m.warning);
  if (m.outcome == report::TailMerge::Outcome::kMerged && followed != nullptr) {
    followed->Merged(recording, m.appended_at, m.torn_bytes > 0);
  }
}

namespace {

// Loaded and analysed recordings, ready for any renderer.
struct Loaded {
  std::vector<std::shared_ptr<report::ProcessModel>> models;  // shared with FollowedRecordings
  std::vector<report::ProcessReport> reports;
  report::StackSymbolizer* symbols = nullptr;  // own_symbols, or the followed recordings'
  std::unique_ptr<report::StackSymbolizer> own_symbols;
  report::Suppressions suppressions;
  bool ok = true;
};

struct LoadSettings {
  report::LoadOptions load;
  report::ReportOptions report;
  bool symbols = true;
  std::string sysroot;
  std::vector<std::string> debug_dirs;
  std::string suppressions;
  bool symbol_tables = true;  // use RECORDING.awsym when present
};

// With `followed`, the recordings it follows are not read again from their start.
void LoadAll(const std::vector<std::string>& files, const LoadSettings& settings, Loaded& out,
             FollowedRecordings* followed = nullptr) {
  out.models.reserve(files.size());
  for (const std::string& file : files) {
    MergeTailOf(file, followed);
    try {
      out.models.push_back(followed != nullptr ? followed->Model(file)
                                               : std::make_shared<report::ProcessModel>(
                                                     report::LoadProcess(file, settings.load)));
    } catch (const report::ReadError& e) {
      spdlog::error("{}", e.what());
      out.ok = false;
    }
  }
  report::ReportOptions options = settings.report;
  if (!settings.suppressions.empty()) {
    out.suppressions = report::Suppressions::Load(settings.suppressions);
    options.suppressions = &out.suppressions;
  }
  symbolize::Options symbolize_options{settings.sysroot, settings.debug_dirs};
  if (followed != nullptr) {
    // Kept from the last report of these recordings: what it looked up is not looked up again.
    out.symbols = &followed->Symbols(symbolize_options, settings.symbols);
  } else {
    out.own_symbols =
        std::make_unique<report::StackSymbolizer>(symbolize_options, settings.symbols);
    out.symbols = out.own_symbols.get();
  }
  if (settings.symbols && settings.symbol_tables) {
    for (const auto& shared : out.models) {
      const report::ProcessModel& model = *shared;
      std::string table_path = report::SymbolTablePath(model.path);
      std::error_code ec;
      if (!fs::exists(table_path, ec)) continue;
      if (followed != nullptr && !followed->FirstUseOfTable(table_path)) continue;
      try {
        report::SymbolTable table = report::ReadSymbolTable(table_path);
        report::CheckTableMatches(table, model, table_path);
        out.symbols->AddTable(table);
      } catch (const report::SymbolTableError& e) {
        spdlog::error("{} (symbols are taken from the binaries)", e.what());
        out.ok = false;
      }
    }
  }
  for (const auto& shared : out.models) {
    report::ProcessModel& model = *shared;
    bool running = StillRunning(model);
    if (running && model.truncated_tail) {
      // The writer is mid-record: not damage.
      std::erase_if(model.warnings, [&](const std::string& w) {
        return w.rfind(model.path + ": truncated", 0) == 0;
      });
    }
    // A process still running: its cgroup's limit, read now, unless --limit gave one.
    report::ReportOptions these = options;
    if (running) these.limits.push_back(report::LiveCgroupLimit());
    out.reports.push_back(report::BuildReport(model, *out.symbols, these));
    out.reports.back().still_running = running;
  }
}

using Renderer = void (*)(const Loaded& loaded, const ReportCommandOptions& options,
                          std::ostream& out);

void RenderTextFormat(const Loaded& loaded, const ReportCommandOptions& options,
                      std::ostream& out) {
  report::TextStyle style{UseColour(options.colour, options.output.empty())};
  for (size_t i = 0; i < loaded.reports.size(); ++i) {
    if (i > 0) out << "\n";
    report::RenderText(loaded.reports[i], out, style);
  }
  if (loaded.reports.size() > 1) {
    out << "\n";
    report::RenderCombinedText(report::BuildCombined(loaded.reports, options.top), out, style);
  }
}

void RenderJsonFormat(const Loaded& loaded, const ReportCommandOptions& options,
                      std::ostream& out) {
  report::CombinedReport combined = report::BuildCombined(loaded.reports, options.top);
  // Paths and symbols need not be UTF-8: bytes that are not become U+FFFD.
  out << report::RenderJsonDocument(loaded.reports, loaded.reports.size() > 1 ? &combined : nullptr)
             .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
      << "\n";
}

void RenderHtmlFormat(const Loaded& loaded, const ReportCommandOptions&, std::ostream& out) {
  report::RenderHtml(loaded.reports, *loaded.symbols, out);
}

void RenderPprofFormat(const Loaded& loaded, const ReportCommandOptions&, std::ostream& out) {
  out << report::RenderPprof(loaded.reports);
}

void RenderFoldedFormat(const Loaded& loaded, const ReportCommandOptions& options,
                        std::ostream& out) {
  report::FoldedMetric metric{};
  report::ParseFoldedMetric(options.metric, &metric);  // checked by the command line
  report::RenderFolded(loaded.reports, metric, out);
}

// The formats of `allocwatch report --format`. A new format is one row here (and its name in
// the --format check in main.cc); `stacks` asks the analysis for every stack's frames.
struct Format {
  const char* name;
  Renderer render;
  bool stacks;
  bool binary;
};
constexpr Format kFormats[] = {
    {"text", RenderTextFormat, false, false},    {"json", RenderJsonFormat, true, false},
    {"html", RenderHtmlFormat, true, false},     {"pprof", RenderPprofFormat, true, true},
    {"folded", RenderFoldedFormat, true, false},
};

const Format* FindFormat(const std::string& name) {
  for (const Format& f : kFormats) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

LoadSettings SettingsFor(const ReportCommandOptions& options, const Format& format) {
  LoadSettings s;
  if (options.since_seconds) s.load.since_ns = static_cast<uint64_t>(*options.since_seconds * 1e9);
  if (options.until_seconds) s.load.until_ns = static_cast<uint64_t>(*options.until_seconds * 1e9);
  s.load.tid = options.thread;
  s.report.top = options.top;
  s.report.grouping = ParseGrouping(options.group_by);
  s.report.stacks = format.stacks;
  if (options.limit_bytes) s.report.limits.push_back(report::FixedLimit(*options.limit_bytes));
  s.symbols = options.symbols;
  s.sysroot = options.sysroot;
  s.debug_dirs = options.debug_dirs;
  s.suppressions = options.suppressions;
  s.symbol_tables = options.symbol_tables;
  return s;
}

int Follow(const ReportCommandOptions& options) {
  const Format& format = *FindFormat("text");
  bool tty = options.output.empty() && isatty(STDOUT_FILENO) == 1;
  auto interval = std::chrono::duration<double>(options.follow_interval);
  // Each update reads only what the recordings gained since the last one.
  FollowedRecordings followed(SettingsFor(options, format).load);
  for (;;) {
    bool ok = true;
    std::vector<std::string> files = ExpandRecordings(options.recordings, &ok);
    Loaded loaded;
    try {
      LoadAll(files, SettingsFor(options, format), loaded, &followed);
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      return 1;
    }
    if (loaded.models.empty()) return 1;
    std::ostringstream text;
    RenderTextFormat(loaded, options, text);
    bool running = false;
    for (const report::ProcessReport& r : loaded.reports) running = running || r.still_running;
    if (tty) std::cout << "\033[H\033[2J";  // clear the screen
    std::cout << text.str();
    if (!running) {
      std::cout << "\n(follow: no recorded process is running any more)\n";
      std::cout.flush();
      return ok && loaded.ok ? 0 : 1;
    }
    if (!tty) std::cout << "\n(follow: next update in " << options.follow_interval << " s)\n\n";
    std::cout.flush();
    if (!std::cout) return 1;
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace

bool PrepareSymbolsFor(const ReportCommandOptions& options, FollowedRecordings& followed) {
  const Format* format = FindFormat(options.format);
  if (format == nullptr) return false;  // RenderRecordings says so
  LoadSettings settings = SettingsFor(options, *format);
  // As LoadAll asks for it, so that the report gets this symbolizer.
  followed.Symbols({settings.sysroot, settings.debug_dirs}, settings.symbols);
  return format->stacks;
}

int RenderRecordings(const std::vector<std::string>& files, const ReportCommandOptions& options,
                     std::ostream& out, FollowedRecordings* followed, const InspectReports& inspect,
                     bool render) {
  const Format* format = FindFormat(options.format);
  if (format == nullptr) {
    spdlog::error("unknown report format '{}'", options.format);
    return 1;
  }
  Loaded loaded;
  try {
    LoadAll(files, SettingsFor(options, *format), loaded, followed);
    if (!loaded.models.empty() && render) format->render(loaded, options, out);
    if (inspect) inspect(loaded.reports);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  out.flush();
  if (!out) {
    spdlog::error("cannot write the report");
    return 1;
  }
  return loaded.ok && !loaded.models.empty() ? 0 : 1;
}

int RunReport(const ReportCommandOptions& options) {
  if (options.since_seconds && options.until_seconds &&
      *options.until_seconds < *options.since_seconds) {
    spdlog::error("--until ({} s) is before --since ({} s)", *options.until_seconds,
                  *options.since_seconds);
    return 2;
  }
  if (options.follow) {
    if (options.format != "text" || !options.output.empty()) {
      spdlog::error("--follow renders the text report to stdout (no --format, no -o)");
      return 2;
    }
    return Follow(options);
  }
  const Format* format = FindFormat(options.format);
  if (format != nullptr && format->binary && options.output.empty() && isatty(STDOUT_FILENO) == 1) {
    spdlog::error("the {} format is binary: write it to a file with -o FILE", options.format);
    return 2;
  }
  bool ok = true;
  std::vector<std::string> files = ExpandRecordings(options.recordings, &ok);
  int status = 0;
  if (options.output.empty()) {
    status = RenderRecordings(files, options, std::cout);
  } else {
    std::ofstream out(options.output, std::ios::binary | std::ios::trunc);
    if (!out) {
      spdlog::error("{}: cannot create the report file", options.output);
      return 1;
    }
    status = RenderRecordings(files, options, out);
  }
  return ok ? status : 1;
}

int RunDiff(const DiffCommandOptions& options) {
  LoadSettings settings;
  settings.report.top = 0;  // every site, matched before --top
  settings.report.grouping = ParseGrouping(options.group_by);
  settings.symbols = options.symbols;
  settings.sysroot = options.sysroot;
  settings.debug_dirs = options.debug_dirs;
  bool ok = true;
  Loaded base, next;
  try {
    LoadAll(ExpandRecordings({options.base}, &ok), settings, base);
    LoadAll(ExpandRecordings({options.next}, &ok), settings, next);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  if (!ok || !base.ok || !next.ok || base.models.empty() || next.models.empty()) return 1;
  report::DiffReport diff = report::BuildDiff(base.reports, next.reports, options.top);
  std::ofstream file;
  if (!options.output.empty()) {
    file.open(options.output, std::ios::binary | std::ios::trunc);
    if (!file) {
      spdlog::error("{}: cannot create the report file", options.output);
      return 1;
    }
  }
  std::ostream& out = options.output.empty() ? std::cout : file;
  if (options.format == "json") {
    out << report::RenderDiffJson(diff).dump(2, ' ', false,
                                             nlohmann::json::error_handler_t::replace)
        << "\n";
  } else {
    report::RenderDiffText(diff, out, {UseColour(options.colour, options.output.empty())});
  }
  out.flush();
  if (!out) {
    spdlog::error("cannot write the report");
    return 1;
  }
  return 0;
}

}  // namespace allocwatch::tools
