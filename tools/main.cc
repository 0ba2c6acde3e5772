// tools/main.cc: the allocwatch command line.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "tools/command_line.h"
#include "tools/commands.h"
#include "tools/malloc_tuning.h"

namespace {

void AddReportOptions(CLI::App* cmd, allocwatch::tools::ReportCommandOptions& o) {
  cmd->add_option("recordings", o.recordings,
                  "Recording files (.awtrace) or directories holding them")
      ->required();
  cmd->add_option("-f,--format", o.format,
                  "Output format: text, json, html (one self-contained page), pprof (gzipped "
                  "profile.proto), folded (flame graphs)")
      ->check(CLI::IsMember({"text", "json", "html", "pprof", "folded"}))
      ->capture_default_str();
  cmd->add_option("--metric", o.metric,
                  "folded: inuse_space, inuse_objects (live at the end), alloc_space, "
                  "alloc_objects (over the run), peak_space, peak_objects")
      ->check(CLI::IsMember({"inuse_space", "inuse_objects", "alloc_space", "alloc_objects",
                             "peak_space", "peak_objects"}))
      ->capture_default_str();
  cmd->add_option("--since", o.since_seconds,
                  "Only allocations made from SECONDS after the process started")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--until", o.until_seconds,
                  "Replay up to SECONDS after the start: 'live at the end' means live then")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--thread", o.thread, "Only allocations made by thread TID");
  cmd->add_option("--suppressions", o.suppressions,
                  "File of patterns (one a line, '*' wildcard, 'leak:' prefix allowed); stacks "
                  "with a matching function, file or module are left out")
      ->check(CLI::ExistingFile);
  cmd->add_option_function<std::string>(
         "--limit",
         [&o](const std::string& text) {
           uint64_t bytes = 0;
           if (!allocwatch::tools::ParseByteSize(text, &bytes) || bytes == 0) {
             throw CLI::ValidationError("--limit", "'" + text + "' is not a size (e.g. 512M, 2G)");
           }
           o.limit_bytes = bytes;
         },
         "Memory limit (e.g. 2G) for the projected time until it is reached")
      ->type_name("BYTES");
  cmd->add_flag("--follow", o.follow,
                "Re-render the text report every --interval seconds while the process runs");
  cmd->add_option("--interval", o.follow_interval, "Seconds between --follow updates")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  cmd->add_option("--color", o.colour,
                  "Colour in the text report: auto (a terminal, and NO_COLOR unset), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  cmd->add_option("-o,--output", o.output, "Write the report to this file instead of stdout");
  cmd->add_option("--top", o.top, "Call sites listed per section (0: all)")->capture_default_str();
  cmd->add_flag("!--no-symbols", o.symbols, "Show module+offset instead of functions and lines");
  cmd->add_option("--sysroot", o.sysroot,
                  "Root to find the recorded binaries under (recordings from another machine)");
  cmd->add_option("--debug-dir", o.debug_dirs,
                  "Extra directory with .build-id/xx/yyyy.debug files");
  cmd->add_flag("!--no-symbol-table", o.symbol_tables,
                "Ignore RECORDING.awsym files (written by allocwatch symbolize)");
  cmd->add_option("--group-by", o.group_by,
                  "site: first frame outside the C/C++ runtime; function: allocating function; "
                  "stack: full stack")
      ->check(CLI::IsMember({"site", "function", "stack"}))
      ->capture_default_str();
}

void AddSymbolizeOptions(CLI::App* cmd, allocwatch::tools::SymbolizeCommandOptions& o) {
  cmd->add_option("recordings", o.recordings,
                  "Recording files (.awtrace) or directories holding them")
      ->required();
  cmd->add_option("--sysroot", o.sysroot,
                  "Root to find the recorded binaries under (recordings from another machine)");
  cmd->add_option("--debug-dir", o.debug_dirs,
                  "Extra directory with .build-id/xx/yyyy.debug files");
}

void AddDiffOptions(CLI::App* cmd, allocwatch::tools::DiffCommandOptions& o) {
  cmd->add_option("base", o.base, "Recording or directory of the base run")->required();
  cmd->add_option("new", o.next, "Recording or directory of the new run")->required();
  cmd->add_option("-f,--format", o.format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->add_option("-o,--output", o.output, "Write the diff to this file instead of stdout");
  cmd->add_option("--top", o.top, "Sites listed (0: all)")->capture_default_str();
  cmd->add_flag("!--no-symbols", o.symbols, "Show module+offset instead of functions and lines");
  cmd->add_option("--sysroot", o.sysroot, "Root to find the recorded binaries under");
  cmd->add_option("--debug-dir", o.debug_dirs,
                  "Extra directory with .build-id/xx/yyyy.debug files");
  cmd->add_option("--group-by", o.group_by, "site, function or stack (as for report)")
      ->check(CLI::IsMember({"site", "function", "stack"}))
      ->capture_default_str();
  cmd->add_option("--color", o.colour, "auto, always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
}

void AddRunOptions(CLI::App* cmd, allocwatch::tools::RunCommandOptions& o) {
  cmd->add_option("-o,--output-dir", o.output_dir,
                  "Directory for the recordings (created if missing)")
      ->capture_default_str();
  auto* sample = cmd->add_option("--sample-bytes", o.sample_bytes,
                                 "Mean sampling period in bytes (default 524288)")
                     ->check(CLI::PositiveNumber);
  cmd->add_flag("--exact", o.exact, "Record every allocation with its stack")->excludes(sample);
  cmd->add_option("--interval", o.interval_seconds, "Seconds between snapshots")
      ->check(CLI::Range(0.001, 86400.0))
      ->capture_default_str();
  cmd->add_option("--write-budget", o.write_budget_percent,
                  "Sampled mode: double the sampling period after an interval in which writing "
                  "the recording took more than PERCENT of the time")
      ->check(CLI::Range(0u, 100u))
      ->capture_default_str();
  cmd->add_option("--brink", o.brink,
                  "Headroom thresholds, percent of a limit (memory cgroup, commit limit, "
                  "RLIMIT_AS), at which the live set is recorded at once; or off")
      ->check(CLI::Validator(
          [](const std::string& v) -> std::string {
            if (v == "off") return "";
            std::stringstream in(v);
            std::string item;
            int n = 0;
            while (std::getline(in, item, ',')) {
              if (item.empty() || item.size() > 2 ||
                  item.find_first_not_of("0123456789") != std::string::npos ||
                  std::stoi(item) < 1 || ++n > 4) {
                return "want off or up to 4 percentages from 1 to 99, such as 10,5,2";
              }
            }
            return n == 0 ? "want off or up to 4 percentages from 1 to 99, such as 10,5,2" : "";
          },
          "PERCENT[,PERCENT...]|off"))
      ->capture_default_str();
  cmd->add_flag("--no-children", o.no_children,
                "Record only the launched process, not the processes it forks or executes");
  cmd->add_option("--report", o.report_file, "Write the report to FILE instead of stderr");
  cmd->add_flag("--no-report", o.no_report,
                "Only record; print where the recordings are (report on them later)");
  cmd->add_option("--report-format", o.format, "Format of the report")
      ->check(CLI::IsMember({"text", "json", "html"}))
      ->capture_default_str();
  cmd->add_option("--top", o.top, "Call sites listed per section (0: all)")->capture_default_str();
  auto size_option = [cmd](const char* name, std::optional<uint64_t>* target, const char* help) {
    cmd->add_option_function<std::string>(
           name,
           [name, target](const std::string& text) {
             uint64_t bytes = 0;
             if (!allocwatch::tools::ParseByteSize(text, &bytes)) {
               throw CLI::ValidationError(name, "'" + text + "' is not a size (e.g. 0, 64K, 2G)");
             }
             *target = bytes;
           },
           help)
        ->type_name("BYTES");
  };
  size_option("--fail-on-leak", &o.gates.leak_bytes,
              "Exit with the gate status when more heap bytes than this are live at the end");
  size_option("--max-peak", &o.gates.peak_bytes,
              "Exit with the gate status when a process's peak of heap and committed mappings "
              "is over this");
  cmd->add_flag("--fail-on-failed-alloc", o.gates.failed_alloc,
                "Exit with the gate status when an allocation call failed");
  cmd->add_flag("--paused", o.paused,
                "Start with recording off (calls counted only); allocwatch ctl PID start turns "
                "it on");
  cmd->add_option("--gate-status", o.gate_status,
                  "Exit status when a gate fails and the program exited 0")
      ->check(CLI::Range(1, 255))
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  if (!allocwatch::tools::RestoreEnvironment() && argc > 1 &&
      (std::strcmp(argv[1], "report") == 0 || std::strcmp(argv[1], "diff") == 0)) {
    allocwatch::tools::ExecWithHugePages(argv);
  }
  allocwatch::tools::SetUpLogging();
  CLI::App app{"allocwatch: allocation profiler and leak finder for Linux processes"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "allocwatch 0.1.0");

  allocwatch::tools::RunCommandOptions run;
  CLI::App* run_cmd = app.add_subcommand("run",
                                         "Run PROGRAM with allocwatch and report on it at its end: "
                                         "allocwatch run [options] -- PROGRAM ARGS...");
  // CLI11 sees only run's options: SplitRunArguments finds where PROGRAM begins.
  AddRunOptions(run_cmd, run);
  run_cmd->footer(
      "PROGRAM ARGS...: what follows \"--\", or everything from the first argument that is not "
      "an option; its own options are passed on untouched.");

  allocwatch::tools::ReportCommandOptions report;
  CLI::App* report_cmd = app.add_subcommand("report", "Report on one or more recordings");
  AddReportOptions(report_cmd, report);

  allocwatch::tools::DoctorCommandOptions doctor;
  CLI::App* doctor_cmd = app.add_subcommand(
      "doctor", "Check this machine (or the process --pid) for memory limits and risks");
  doctor_cmd->add_option("--pid", doctor.pid, "Check this process's cgroup, limits and mappings")
      ->check(CLI::PositiveNumber);
  doctor_cmd->add_flag("--json", doctor.json, "Print JSON for scripts");
  doctor_cmd->add_option("--root", doctor.root, "Read /proc and /sys under this directory (tests)");
  allocwatch::tools::CtlCommandOptions ctl;
  CLI::App* ctl_cmd = app.add_subcommand(
      "ctl", "Turn recording of a recorded process on or off, or write a snapshot now");
  ctl_cmd->add_option("pid", ctl.pid, "The process (started by allocwatch run or with the library)")
      ->required()
      ->check(CLI::PositiveNumber);
  ctl_cmd->add_option("command", ctl.command, "start, stop or snapshot")
      ->required()
      ->check(CLI::IsMember({"start", "stop", "snapshot"}));
  ctl_cmd
      ->add_option("--timeout", ctl.timeout_seconds,
                   "Seconds to wait for the process to carry the command out")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();

  allocwatch::tools::AttachCommandOptions attach;
  CLI::App* attach_cmd = app.add_subcommand(
      "attach",
      "Record a process that is already running: load the library into it, record until "
      "--duration, Ctrl-C or allocwatch detach, then report");
  attach_cmd->add_option("pid", attach.pid, "The process")->required()->check(CLI::PositiveNumber);
  attach_cmd
      ->add_option("-o,--output-dir", attach.output_dir,
                   "Directory for the recording, as the process sees it")
      ->capture_default_str();
  auto* attach_sample = attach_cmd
                            ->add_option("--sample-bytes", attach.sample_bytes,
                                         "Mean sampling period in bytes (default 524288)")
                            ->check(CLI::PositiveNumber);
  attach_cmd->add_flag("--exact", attach.exact, "Record every allocation with its stack")
      ->excludes(attach_sample);
  attach_cmd->add_option("--interval", attach.interval_seconds, "Seconds between snapshots")
      ->check(CLI::Range(0.001, 86400.0))
      ->capture_default_str();
  attach_cmd
      ->add_option("--duration", attach.duration_seconds,
                   "Detach after this many seconds (default: at Ctrl-C or allocwatch "
                   "detach)")
      ->check(CLI::Range(0.0, 1e7));
  attach_cmd->add_flag("--no-wait", attach.no_wait,
                       "Return once recording has begun; allocwatch detach PID ends it");
  attach_cmd->add_flag("--no-report", attach.no_report, "Do not print the report at the end");
  attach_cmd->add_option("--report-format", attach.format, "Format of the report")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  attach_cmd->add_option("--top", attach.top, "Call sites listed per section (0: all)")
      ->capture_default_str();
  attach_cmd->add_option("--library", attach.library,
                         "liballocwatch.so's path as the process sees it (a container's)");
  attach_cmd
      ->add_option("--timeout", attach.timeout_seconds,
                   "Seconds to wait for a thread of the process to reach a system call where it "
                   "can be borrowed")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();

  allocwatch::tools::CtlCommandOptions detach;
  detach.command = "detach";
  CLI::App* detach_cmd = app.add_subcommand(
      "detach", "Stop recording a process allocwatch attach attached to; it runs on as before");
  detach_cmd->add_option("pid", detach.pid, "The process")->required()->check(CLI::PositiveNumber);
  detach_cmd
      ->add_option("--timeout", detach.timeout_seconds,
                   "Seconds to wait for the process to carry it out")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();

  allocwatch::tools::ServeCommandOptions serve;
  CLI::App* serve_cmd = app.add_subcommand(
      "serve",
      "Serve live pprof profiles of the recordings in DIR over HTTP, at /debug/pprof/heap and "
      "/debug/pprof/allocs as Go programs do (for Parca, Grafana Alloy, go tool pprof)");
  allocwatch::tools::AddServeOptions(serve_cmd, serve);

  allocwatch::tools::SymbolizeCommandOptions symbolize;
  CLI::App* symbolize_cmd = app.add_subcommand(
      "symbolize",
      "Write RECORDING.awsym next to each recording: the functions, files and lines of every "
      "address of its stacks, for reports where the binaries are not");
  AddSymbolizeOptions(symbolize_cmd, symbolize);

  allocwatch::tools::DiffCommandOptions diff;
  CLI::App* diff_cmd = app.add_subcommand(
      "diff", "Compare two runs per call site: change in live bytes and in growth rate");
  AddDiffOptions(diff_cmd, diff);

  // Arguments no option takes are left for FirstExtra to name (CLI11 would only list them).
  for (CLI::App* cmd : {report_cmd, doctor_cmd, symbolize_cmd, diff_cmd, ctl_cmd, serve_cmd,
                        attach_cmd, detach_cmd}) {
    cmd->allow_extras();
  }

  // `run [options] [--] PROGRAM ARGS`: everything from PROGRAM on is the program's, untouched.
  int command_index = 1;
  while (command_index < argc && argv[command_index][0] == '-') ++command_index;
  allocwatch::tools::RunArguments run_args;
  int parsed_argc = argc;
  if (command_index < argc && std::string(argv[command_index]) == "run") {
    run_args = allocwatch::tools::SplitRunArguments(*run_cmd, argc, argv, command_index);
    if (!run_args.unknown.empty()) return allocwatch::tools::UsageError("run", run_args.unknown);
    parsed_argc = run_args.options_end;
  }
  // The first argument that no command or option took: an unknown option (or a stray one).
  auto usage_error = [&]() -> std::optional<int> {
    for (CLI::App* cmd : app.get_subcommands()) {
      std::string extra = allocwatch::tools::FirstExtra(*cmd);
      if (!extra.empty()) return allocwatch::tools::UsageError(cmd->get_name(), extra);
    }
    std::string extra = allocwatch::tools::FirstExtra(app);
    if (!extra.empty()) return allocwatch::tools::UsageError("", extra);
    return std::nullopt;
  };
  try {
    app.parse(parsed_argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (std::optional<int> rc = usage_error()) return *rc;  // before "recordings is required"
    app.exit(e);  // prints the message and the --help hint
    return 2;     // a usage error, whatever CLI11's own code for it
  }
  if (std::optional<int> rc = usage_error()) return *rc;
  if (run_cmd->parsed()) {
    run.command = run_args.program;
    if (run.command.empty()) {
      std::fprintf(
          stderr,
          "allocwatch run: no program given\nusage: allocwatch run [options] -- PROGRAM ARGS...\n");
      return 2;
    }
    if (run.format == "html" && run.report_file.empty()) {
      std::fprintf(stderr, "allocwatch run: --report-format html needs --report FILE\n");
      return 2;
    }
    return allocwatch::tools::RunRun(run);
  }
  if (doctor_cmd->parsed()) return allocwatch::tools::RunDoctor(doctor);
  if (ctl_cmd->parsed()) return allocwatch::tools::RunCtl(ctl);
  if (attach_cmd->parsed()) return allocwatch::tools::RunAttach(attach);
  if (detach_cmd->parsed()) return allocwatch::tools::RunCtl(detach);
  if (serve_cmd->parsed()) return allocwatch::tools::ExecServe(serve);
  if (symbolize_cmd->parsed()) return allocwatch::tools::RunSymbolize(symbolize);
  if (diff_cmd->parsed()) return allocwatch::tools::RunDiff(diff);
  return allocwatch::tools::RunReport(report);
}
