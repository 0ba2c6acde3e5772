// tests/preload/modules_test.cc: stacks in dlopen'd modules (closed before exit, loaded twice,
// loaded from a copy) are resolved against the module map of their time and symbolized by
// function, file and line; `allocwatch symbolize` keeps those answers for reports made after
// the binaries are gone; return addresses are looked up at address - 1; a stripped plugin
// loaded by a relative name and closed before exit is placed and symbolized through its
// .build-id debug file in both modes. The symbolizer of followed recordings looks up their
// stacks ahead of the report and is kept from one report to the next.
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <set>

#include "nlohmann/json.hpp"
#include "preload_support.h"
#include "report/symbols/symbol_table.h"
#include "tools/followed_recordings.h"

namespace allocwatch::preload_test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The subject program and its module copied under `root`, so that a test can delete them.
struct Subject {
  explicit Subject(const TempDir& dir)
      : program(dir.Sub("bin") + "/dlopen_twice"),
        module(dir.Sub("lib") + "/dl_module.so"),
        copy(dir.Sub("copy") + "/dl_module.so"),
        variant(dir.Sub("lib") + "/dl_module_variant.so") {
    fs::copy_file(PROGRAM_DLOPEN_TWICE, program);
    fs::copy_file(PROGRAM_DL_MODULE, module);
    fs::copy_file(PROGRAM_DL_MODULE, copy);
    fs::copy_file(PROGRAM_DL_MODULE_VARIANT, variant);
  }
  std::string program, module, copy, variant;
};

// Records the subject in exact mode; returns the one recording.
std::string RecordSubject(const Subject& subject, const std::string& out_dir) {
  RunResult run =
      Run({subject.program, subject.module, subject.copy, subject.variant}, Exact(out_dir));
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(0));
  REQUIRE(run.err.empty());
  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 1);
  return files[0];
}

// Stack of the (one) recorded allocation of each size in `sizes`.
std::map<uint64_t, report::StackId> StacksBySize(const std::string& recording) {
  std::map<uint64_t, report::StackId> stacks;
  for (const report::RawRecord& r : ReadRecords(recording).records) {
    if (r.type != format::RecordType::kAlloc) continue;
    auto rec = As<format::AllocRecord>(r);
    if (rec.size >= 1001 && rec.size <= 1007) {
      CHECK(stacks.count(rec.size) == 0);
      stacks[rec.size] = report::StackId{rec.stack_id};
    }
  }
  return stacks;
}

// Index of the first frame in `function`, or -1.
int FrameIn(const std::vector<report::DisplayFrame>& frames, const std::string& function) {
  for (size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].function == function) return static_cast<int>(i);
  }
  return -1;
}

TEST_CASE("modules closed before exit and loaded twice symbolize at their own loads", "[modules]") {
  TempDir dir;
  Subject subject(dir);
  const std::string recording = RecordSubject(subject, dir.Sub("rec"));
  report::ProcessModel model = report::LoadProcess(recording);
  CHECK(model.warnings.empty());
  std::map<uint64_t, report::StackId> stacks = StacksBySize(recording);
  REQUIRE(stacks.size() == 7);

  // Every load of the module is in the recording, and all were unloaded before exit.
  std::vector<int> loads_of_module, loads_of_copy, loads_of_variant;
  for (size_t i = 0; i < model.modules.size(); ++i) {
    const report::ModuleInfo& m = model.modules[i];
    if (m.path == subject.module) loads_of_module.push_back(static_cast<int>(i));
    if (m.path == subject.copy) loads_of_copy.push_back(static_cast<int>(i));
    if (m.path == subject.variant) loads_of_variant.push_back(static_cast<int>(i));
    if (m.path == subject.module || m.path == subject.copy || m.path == subject.variant) {
      CHECK(m.unload_position != UINT64_MAX);
    }
  }
  REQUIRE(loads_of_module.size() == 4);
  REQUIRE(loads_of_copy.size() == 1);
  REQUIRE(loads_of_variant.size() == 1);
  CHECK(model.modules[loads_of_variant[0]].build_id != model.modules[loads_of_module[0]].build_id);
  // Loaded at the same time, so necessarily at different addresses.
  CHECK(model.modules[loads_of_module[2]].load_bias != model.modules[loads_of_copy[0]].load_bias);

  Sites sites(model);
  const int module_line = MarkerLine("dl_module.c", "module_malloc");
  // size -> the load that was current when the block was allocated.
  const std::map<uint64_t, int> expected_load = {
      {1001, loads_of_module[0]}, {1002, loads_of_module[1]}, {1003, loads_of_module[2]},
      {1004, loads_of_copy[0]},   {1006, loads_of_module[3]}, {1007, loads_of_variant[0]}};
  for (const auto& [size, load] : expected_load) {
    INFO("block of " << size << " bytes");
    // The reader's resolution: the innermost frame in the module belongs to that load.
    const std::vector<report::RawFrame>& raw = model.stacks.at(stacks.at(size));
    auto in_module = std::find_if(raw.begin(), raw.end(), [&](const report::RawFrame& f) {
      return f.module >= 0 && Basename(model.modules[f.module].path).rfind("dl_module", 0) == 0;
    });
    REQUIRE(in_module != raw.end());
    CHECK(in_module->module == load);
    CHECK(in_module->address - model.modules[load].load_bias == in_module->elf_address);

    std::vector<report::DisplayFrame> frames = sites.Frames(stacks.at(size));
    INFO(DescribeFrames(frames));
    int leak = FrameIn(frames, "module_leak");
    REQUIRE(leak >= 0);
    CHECK(Basename(frames[leak].file) == "dl_module.c");
    CHECK(frames[leak].line == module_line);
    CHECK(frames[leak].module == model.modules[load].path);
    CHECK(FrameIn(frames, "main") > leak);
  }
  CHECK(sites.symbolizer().Warnings().size() <= 1);  // at most the vdso, which has no file

  // When the variant was loaded where the module had been, the addresses of both stacks are
  // the same, yet they are two stacks, each resolved to its own module.
  if (model.modules[loads_of_variant[0]].load_bias == model.modules[loads_of_module[3]].load_bias) {
    CHECK(stacks.at(1006).value != stacks.at(1007).value);
    CHECK(model.stacks.at(stacks.at(1006)).front().address ==
          model.stacks.at(stacks.at(1007)).front().address);
  } else {
    WARN("the loader put the variant elsewhere; same-address reuse was not exercised");
  }
}

TEST_CASE("return addresses are looked up at address - 1, also after a noreturn call",
          "[modules]") {
  TempDir dir;
  Subject subject(dir);
  const std::string recording = RecordSubject(subject, dir.Sub("rec"));
  report::ProcessModel model = report::LoadProcess(recording);
  report::StackId stack = StacksBySize(recording).at(1005);
  Sites sites(model);
  std::vector<report::DisplayFrame> frames = sites.Frames(stack);
  INFO(DescribeFrames(frames));
  // The first recorded frame is itself a return address (out of malloc).
  REQUIRE(frames.size() >= 3);
  CHECK(frames[0].function == "leak_then_exit");
  CHECK(frames[0].line == MarkerLine("dlopen_twice.c", "noreturn_malloc"));
  // leak_then_exit never returns, so the call is the last instruction of calls_noreturn and
  // the return address is the first byte of the next function.
  CHECK(frames[1].function == "calls_noreturn");
  CHECK(frames[1].line == MarkerLine("dlopen_twice.c", "noreturn_call"));
  CHECK(frames[2].function == "main");

  // The same address looked up as it is (not as a return address) is not in calls_noreturn:
  // the test above would fail without the - 1.
  const report::RawFrame& raw = model.stacks.at(stack)[1];
  REQUIRE(raw.module >= 0);
  const report::ModuleInfo& mod = model.modules[raw.module];
  symbolize::Symbolizer symbolizer;
  std::vector<symbolize::Frame> as_is =
      symbolizer.Symbolize({mod.path, mod.build_id}, raw.elf_address, false);
  REQUIRE_FALSE(as_is.empty());
  CHECK(as_is.back().function == "after_calls_noreturn");
}

TEST_CASE("a report symbolizes each distinct address once", "[modules]") {
  TempDir dir;
  Subject subject(dir);
  const std::string recording = RecordSubject(subject, dir.Sub("rec"));
  report::ProcessModel model = report::LoadProcess(recording);
  // Distinct (module file, ELF address) pairs in modules that exist as files here.
  std::set<std::tuple<std::string, std::string, uint64_t>> distinct;
  size_t frames_seen = 0;
  for (const auto& [id, raw] : model.stacks) {
    for (const report::RawFrame& f : raw) {
      if (f.module < 0) continue;
      const report::ModuleInfo& mod = model.modules[f.module];
      ++frames_seen;
      if (fs::exists(mod.path)) distinct.emplace(mod.path, mod.build_id, f.elf_address);
    }
  }
  report::StackSymbolizer symbols({}, true);
  for (int round = 0; round < 3; ++round) {
    for (const auto& [id, raw] : model.stacks) symbols.Frames(model, id);
  }
  const symbolize::Stats* stats = symbols.stats();
  REQUIRE(stats != nullptr);
  CHECK(stats->requests == 3 * frames_seen);
  CHECK(stats->dwarf_lookups == distinct.size());
  CHECK(distinct.size() < frames_seen);  // some addresses repeat across stacks (main's, libc's)
}

TEST_CASE("followed recordings symbolize their stacks ahead, once, for every later report",
          "[modules]") {
  TempDir dir;
  Subject subject(dir);
  const std::string recording = RecordSubject(subject, dir.Sub("rec"));
  tools::FollowedRecordings followed;
  followed.Update(recording);
  std::shared_ptr<report::ProcessModel> model = followed.Model(recording);
  size_t frames_seen = 0;
  std::set<std::pair<std::string, uint64_t>> distinct;
  for (const auto& [id, raw] : model->stacks) {
    for (const report::RawFrame& f : raw) {
      if (f.module < 0) continue;
      ++frames_seen;
      distinct.emplace(model->modules[f.module].path, f.elf_address);
    }
  }
  REQUIRE(frames_seen > 0);
  // Every stack once, in the order its record came.
  CHECK(model->stack_order.size() == model->stacks.size());
  CHECK(std::set<report::StackId>(model->stack_order.begin(), model->stack_order.end()).size() ==
        model->stacks.size());

  // Nothing to look up with before a symbolizer is asked for.
  followed.PrepareNewStacks(true);
  report::StackSymbolizer& symbols = followed.Symbols({}, true);
  REQUIRE(symbols.stats() != nullptr);
  CHECK(symbols.stats()->requests == 0);

  // A stop asked for before it starts: nothing is looked up, and the next call does it all.
  std::atomic<bool> stop{true};
  followed.PrepareNewStacks(true, &stop);
  CHECK(symbols.stats()->requests == 0);
  followed.PrepareNewStacks(true);
  CHECK(symbols.stats()->requests == frames_seen);
  const uint64_t lookups = symbols.stats()->dwarf_lookups;
  CHECK(lookups > 0);
  CHECK(lookups <= distinct.size());

  // No stack is new: nothing is looked up again.
  followed.PrepareNewStacks(true);
  CHECK(symbols.stats()->requests == frames_seen);

  // The report's own pass finds every address done, and shows the functions.
  CHECK(&followed.Symbols({}, true) == &symbols);
  std::set<std::string> functions;
  for (const auto& [id, raw] : model->stacks) {
    for (const report::DisplayFrame& f : symbols.Frames(*model, id)) functions.insert(f.function);
  }
  CHECK(symbols.stats()->dwarf_lookups == lookups);
  CHECK(functions.count("main") == 1);

  // Other options: another symbolizer. For a text report, only the frames up to each stack's
  // site are looked up ahead: fewer than all, and all that FramesThroughSite then needs.
  report::StackSymbolizer& other = followed.Symbols({}, false);
  CHECK(other.stats() == nullptr);  // symbols off: nothing to prepare
  followed.PrepareNewStacks(false);
  report::StackSymbolizer& text = followed.Symbols({}, true);
  CHECK(text.stats()->requests == 0);
  followed.PrepareNewStacks(false);
  const uint64_t site_requests = text.stats()->requests;
  const uint64_t site_lookups = text.stats()->dwarf_lookups;
  CHECK(site_requests > 0);
  CHECK(site_requests < frames_seen);
  std::set<std::string> sites;
  for (const auto& [id, raw] : model->stacks) {
    std::vector<report::DisplayFrame> through = text.FramesThroughSite(*model, id);
    REQUIRE_FALSE(through.empty());
    sites.insert(through.back().function);
  }
  CHECK(text.stats()->dwarf_lookups == site_lookups);
  CHECK(sites.count("module_leak") == 1);
  CHECK(sites.count("leak_then_exit") == 1);
}

TEST_CASE("groupings of one model name each stack's site once", "[modules]") {
  TempDir dir;
  Subject subject(dir);
  const std::string recording = RecordSubject(subject, dir.Sub("rec"));
  report::ProcessModel model = report::LoadProcess(recording);
  const auto grouping = report::Grouping::kFirstOutsideRuntime;
  report::StackSymbolizer symbols({}, true);
  report::SiteKeys keys;
  std::vector<report::Site> first =
      report::GroupSites(model, model.per_stack, symbols, grouping, &keys);
  const uint64_t first_requests = symbols.stats()->requests;
  REQUIRE_FALSE(first.empty());
  CHECK(keys.of.size() == model.per_stack.size());
  CHECK(keys.names.size() == first.size());
  // Again, with the sites known: only the frames shown for each site are asked for.
  std::vector<report::Site> again =
      report::GroupSites(model, model.per_stack, symbols, grouping, &keys);
  CHECK(symbols.stats()->requests - first_requests < first_requests);
  CHECK(keys.of.size() == model.per_stack.size());
  // The same sites as without the keys, in the same order.
  report::StackSymbolizer fresh({}, true);
  std::vector<report::Site> plain = report::GroupSites(model, model.per_stack, fresh, grouping);
  REQUIRE(again.size() == plain.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    CHECK(again[i].key == plain[i].key);
    CHECK(again[i].site_frame == plain[i].site_frame);
    CHECK(again[i].stacks == plain[i].stacks);
    CHECK(again[i].figures.alloc_bytes == plain[i].figures.alloc_bytes);
    CHECK(again[i].frames.size() == plain[i].frames.size());
  }
}

TEST_CASE("a text report's symbols ahead open the modules above the sites too", "[modules]") {
  TempDir dir;
  RunResult run = Run({PROGRAM_GROWER, "3", "1"}, Exact(dir.Sub("rec")));
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(0));
  std::vector<std::string> files = Recordings(dir.Sub("rec"));
  REQUIRE(files.size() == 1);
  tools::FollowedRecordings followed;
  followed.Update(files[0]);
  std::shared_ptr<report::ProcessModel> model = followed.Model(files[0]);
  // grower allocates in its own functions: libc is only above its sites (main's callers).
  report::StackSymbolizer sites_only({}, true);
  for (const auto& [id, raw] : model->stacks) sites_only.FramesThroughSite(*model, id);
  report::StackSymbolizer whole({}, true);
  for (const auto& [id, raw] : model->stacks) whole.Frames(*model, id);
  REQUIRE(sites_only.stats()->modules_opened < whole.stats()->modules_opened);

  // Ahead of a text report: the frames through each site, and one frame of each module above.
  report::StackSymbolizer& text = followed.Symbols({}, true);
  followed.PrepareNewStacks(false);
  CHECK(text.stats()->modules_opened == whole.stats()->modules_opened);
  CHECK(text.stats()->requests < whole.stats()->requests);
  CHECK(text.stats()->requests > sites_only.stats()->requests);
  // The whole stacks the report shows for its sites then open no file.
  for (const auto& [id, raw] : model->stacks) text.Frames(*model, id);
  CHECK(text.stats()->modules_opened == whole.stats()->modules_opened);
}

TEST_CASE("allocwatch symbolize: a report without the binaries gives the same frames",
          "[modules]") {
  TempDir dir;
  Subject subject(dir);
  const std::string recording = RecordSubject(subject, dir.Sub("rec"));
  const std::string table = report::SymbolTablePath(recording);
  auto report_json = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {
        ALLOCWATCH_COMMAND, "report", "--format", "json", "--top", "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(recording);
    RunResult run = Run(argv);
    INFO(run.Describe());
    REQUIRE(run.ExitedWith(0));
    return json::parse(run.out);
  };
  const json before = report_json({});

  RunResult symbolize = Run({ALLOCWATCH_COMMAND, "symbolize", recording});
  INFO(symbolize.Describe());
  REQUIRE(symbolize.ExitedWith(0));
  REQUIRE(fs::exists(table));
  CHECK(symbolize.err.find(table + ": ") != std::string::npos);
  report::SymbolTable read = report::ReadSymbolTable(table);
  CHECK(read.pid == report::LoadProcess(recording).pid);
  CHECK_FALSE(read.entries.empty());

  // The binaries go away.
  fs::remove_all(fs::path(subject.program).parent_path());
  fs::remove_all(fs::path(subject.module).parent_path());
  fs::remove_all(fs::path(subject.copy).parent_path());

  const json after = report_json({});
  CHECK(after == before);
  const json& leaks = after.at("processes")[0].at("leaks");
  INFO(leaks.dump(1));
  bool found = false;
  for (const json& site : leaks) {
    for (const json& frame : site.at("frames")) {
      if (frame.value("function", "") == "module_leak") {
        found = true;
        CHECK(Basename(frame.at("file").get<std::string>()) == "dl_module.c");
        CHECK(frame.at("line") == MarkerLine("dl_module.c", "module_malloc"));
      }
    }
  }
  CHECK(found);

  // Without the table the same report cannot name the module's function any more.
  const json without = report_json({"--no-symbol-table"});
  CHECK(without.dump().find("module_leak") == std::string::npos);
  CHECK(without.dump().find("dl_module.so") != std::string::npos);
}

TEST_CASE("allocwatch report rejects a damaged or foreign symbol table", "[modules]") {
  TempDir dir;
  Subject subject(dir);
  const std::string recording = RecordSubject(subject, dir.Sub("rec"));
  const std::string table = report::SymbolTablePath(recording);
  RunResult symbolize = Run({ALLOCWATCH_COMMAND, "symbolize", recording});
  REQUIRE(symbolize.ExitedWith(0));
  const std::string good = ReadFile(table);

  SECTION("truncated") { WriteFile(table, good.substr(0, good.size() / 2)); }
  SECTION("another version") {
    std::string bumped = good;
    size_t at = bumped.find("\"version\":1");
    REQUIRE(at != std::string::npos);
    bumped.replace(at, 11, "\"version\":7");
    WriteFile(table, bumped);
  }
  SECTION("another recording") {
    json doc = json::parse(good);
    doc["recording"]["pid"] = doc["recording"]["pid"].get<uint32_t>() + 1;
    WriteFile(table, doc.dump());
  }
  RunResult run = Run({ALLOCWATCH_COMMAND, "report", recording});
  INFO(run.Describe());
  CHECK(run.ExitedWith(1));
  CHECK(run.err.find(table) != std::string::npos);
  CHECK(run.out.find("module_leak") != std::string::npos);  // still symbolized from the files
}

TEST_CASE("a module rebuilt after the recording is shown as module+offset with one warning",
          "[modules]") {
  TempDir dir;
  Subject subject(dir);
  const std::string recording = RecordSubject(subject, dir.Sub("rec"));
  // The module file is replaced by a build of other build-id (here: the variant).
  fs::copy_file(subject.variant, subject.module, fs::copy_options::overwrite_existing);

  report::ProcessModel model = report::LoadProcess(recording);
  std::map<uint64_t, report::StackId> stacks = StacksBySize(recording);
  Sites sites(model);
  for (uint64_t size : {1001, 1002, 1003, 1006}) {
    std::vector<report::DisplayFrame> frames = sites.Frames(stacks.at(size));
    INFO("block of " << size << " bytes\n" << DescribeFrames(frames));
    CHECK(FrameIn(frames, "module_leak") < 0);
    REQUIRE_FALSE(frames.empty());
    CHECK(frames[0].module == subject.module);
    CHECK(frames[0].function.empty());
    CHECK(report::DescribeFrame(frames[0]).rfind("dl_module.so+0x", 0) == 0);
    CHECK(FrameIn(frames, "main") > 0);  // the program itself still matches
  }
  // The copy and the variant were not touched: still symbolized.
  CHECK(FrameIn(sites.Frames(stacks.at(1004)), "module_leak") >= 0);
  CHECK(FrameIn(sites.Frames(stacks.at(1007)), "module_leak") >= 0);
  size_t about_module = 0;
  for (const std::string& w : sites.symbolizer().Warnings()) {
    if (w.find(subject.module + " ") != std::string::npos) {
      ++about_module;
      CHECK(w.find("build-id mismatch") != std::string::npos);
    }
  }
  CHECK(about_module == 1);

  RunResult report = Run({ALLOCWATCH_COMMAND, "report", "--top", "0", recording});
  INFO(report.Describe());
  REQUIRE(report.ExitedWith(0));
  CHECK(report.out.find("dl_module.so+0x") != std::string::npos);
  CHECK(report.out.find("build-id mismatch") != std::string::npos);
}

// The plugin copied under root/lib, stripped, its debug info under root/debug/.build-id.
struct StrippedPlugin {
  explicit StrippedPlugin(const TempDir& dir)
      : path(fs::canonical(dir.Sub("lib")).string() + "/stripped_plugin.so"),
        debug_root(dir.Sub("debug")),
        debug_file(dir.Sub("split") + "/stripped_plugin.debug") {
    fs::copy_file(PROGRAM_STRIPPED_PLUGIN, path);
    for (std::vector<std::string> argv :
         {std::vector<std::string>{OBJCOPY_COMMAND, "--only-keep-debug", path, debug_file},
          std::vector<std::string>{OBJCOPY_COMMAND, "--strip-all", path}}) {
      RunResult run = Run(argv);
      INFO(run.Describe());
      REQUIRE(run.ExitedWith(0));
    }
  }
  // Puts the debug file where a lookup by `build_id` finds it.
  void PlaceDebugFile(const std::string& build_id) const {
    REQUIRE(build_id.size() > 2);
    const fs::path target = fs::path(debug_root) / ".build-id" / build_id.substr(0, 2) /
                            (build_id.substr(2) + ".debug");
    fs::create_directories(target.parent_path());
    fs::copy_file(debug_file, target, fs::copy_options::overwrite_existing);
  }
  std::string path, debug_root, debug_file;
};

TEST_CASE("a stripped plugin loaded by a relative name and closed before exit keeps its module",
          "[modules]") {
  struct Mode {
    const char* name;
    uint64_t sample_bytes;
    uint64_t size;  // in default mode at least the period, so the block is always sampled
  };
  const Mode mode = GENERATE(Mode{"exact", 1, 4321}, Mode{"default", 512 * 1024, 1 << 20});
  // How the host names the plugin: a path relative to its directory, or a bare name found
  // through a relative LD_LIBRARY_PATH entry.
  const bool bare_name = GENERATE(false, true);
  INFO(mode.name << " mode, " << (bare_name ? "LD_LIBRARY_PATH=lib" : "./lib/stripped_plugin.so"));
  TempDir dir;
  StrippedPlugin plugin(dir);
  RunOptions options = Exact(dir.Sub("rec"));
  options.sample_bytes = mode.sample_bytes;
  options.cwd = dir.path();
  if (bare_name) options.extra_env.push_back("LD_LIBRARY_PATH=lib");
  // The host changes directory before it closes the plugin: the relative name no longer
  // names the file when the module list is rescanned.
  RunResult run =
      Run({PROGRAM_PLUGIN_HOST, bare_name ? "stripped_plugin.so" : "./lib/stripped_plugin.so",
           std::to_string(mode.size), "/"},
          options);
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(0));
  std::vector<std::string> files = Recordings(dir.Sub("rec"));
  REQUIRE(files.size() == 1);

  report::ProcessModel model = report::LoadProcess(files[0]);
  int load = -1;
  for (size_t i = 0; i < model.modules.size(); ++i) {
    const report::ModuleInfo& m = model.modules[i];
    CHECK(m.path.rfind('/', 0) == 0);  // every module is written by an absolute path
    if (m.path == plugin.path) load = static_cast<int>(i);
  }
  REQUIRE(load >= 0);
  CHECK(model.modules[load].unload_position != UINT64_MAX);  // closed before exit
  plugin.PlaceDebugFile(model.modules[load].build_id);

  // The reader places the innermost frame of the block in the plugin.
  const report::RawFrame* first = nullptr;
  for (const auto& [id, figures] : model.per_stack) {
    if (figures.live_bytes == mode.size && figures.live_count == 1) {
      REQUIRE(first == nullptr);
      first = &model.stacks.at(id).front();
    }
  }
  REQUIRE(first != nullptr);
  CHECK(first->module == load);

  // The report names the plugin and, through the .build-id file, its function and line.
  auto leak_frame = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {
        ALLOCWATCH_COMMAND, "report", "--format", "json", "--top", "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(files[0]);
    RunResult report = Run(argv);
    INFO(report.Describe());
    REQUIRE(report.ExitedWith(0));
    const json doc = json::parse(report.out);
    for (const json& site : doc.at("processes")[0].at("leaks")) {
      if (site.at("live_bytes") == mode.size) return site.at("frames").at(0);
    }
    FAIL("no leak of " << mode.size << " bytes");
    return json();
  };
  const json frame = leak_frame({"--debug-dir", plugin.debug_root});
  INFO(frame.dump());
  CHECK(frame.at("module") == plugin.path);
  CHECK(frame.value("function", "") == "plugin_calloc");
  CHECK(Basename(frame.value("file", "")) == "stripped_plugin.c");
  CHECK(frame.value("line", 0) == MarkerLine("stripped_plugin.c", "plugin_calloc"));
  // Without the debug directory the stripped file has no line: the one above came from it.
  const json bare = leak_frame({});
  CHECK(bare.at("module") == plugin.path);
  CHECK(bare.value("line", 0) == 0);
}

TEST_CASE("allocwatch symbolize: a missing or foreign recording is an error", "[modules]") {
  TempDir dir;
  const std::string missing = dir.path() + "/missing.awtrace";
  RunResult run = Run({ALLOCWATCH_COMMAND, "symbolize", missing});
  CHECK(run.ExitedWith(1));
  CHECK(run.err.find(missing) != std::string::npos);
  const std::string foreign = dir.path() + "/foreign.awtrace";
  WriteFile(foreign, "not a recording at all\n");
  run = Run({ALLOCWATCH_COMMAND, "symbolize", foreign});
  CHECK(run.ExitedWith(1));
  CHECK(run.err.find(foreign) != std::string::npos);
  CHECK_FALSE(fs::exists(report::SymbolTablePath(foreign)));
}

}  // namespace
}  // namespace allocwatch::preload_test
