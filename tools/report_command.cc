// tools/report_command.cc: `allocwatch report RECORDING...`.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "report/analysis.h"
#include "report/model.h"
#include "report/recording_reader.h"
#include "report/render.h"
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

report::Grouping ParseGrouping(const std::string& name) {
  if (name == "function") return report::Grouping::kAllocatingFunction;
  if (name == "stack") return report::Grouping::kFullStack;
  return report::Grouping::kFirstOutsideRuntime;
}

int RenderRecordings(const std::vector<std::string>& files, const ReportCommandOptions& options,
                     std::ostream& out) {
  bool ok = true;
  std::vector<report::ProcessModel> models;
  models.reserve(files.size());
  for (const std::string& file : files) {
    try {
      models.push_back(report::LoadProcess(file));
    } catch (const report::ReadError& e) {
      spdlog::error("{}", e.what());
      ok = false;
    }
  }
  symbolize::Options symbolize_options{options.sysroot, options.debug_dirs};
  report::StackSymbolizer symbols(symbolize_options, options.symbols);
  report::ReportOptions report_options{options.top, ParseGrouping(options.group_by)};
  std::vector<report::ProcessReport> reports;
  for (const report::ProcessModel& model : models) {
    reports.push_back(report::BuildReport(model, symbols, report_options));
  }
  if (options.format == "json") {
    out << report::RenderJsonDocument(reports).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    for (size_t i = 0; i < reports.size(); ++i) {
      if (i > 0) out << "\n";
      report::RenderText(reports[i], out);
    }
  }
  out.flush();
  if (!out) {
    spdlog::error("cannot write the report");
    return 1;
  }
  return ok && !models.empty() ? 0 : 1;
}

int RunReport(const ReportCommandOptions& options) {
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

}  // namespace allocwatch::tools
