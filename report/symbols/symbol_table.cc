// report/symbols/symbol_table.cc: see symbol_table.h.
#include "report/symbols/symbol_table.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "nlohmann/json.hpp"
#include "report/symbols/string_interner.h"

namespace allocwatch::report {
namespace {

using nlohmann::json;

[[noreturn]] void Fail(const std::string& path, const std::string& why) {
  throw SymbolTableError(path + ": " + why);
}

// Checked accessors: a wrong type or a missing member is a damaged file, not a crash.
const json& Member(const json& object, const char* name, json::value_t type,
                   const std::string& path) {
  auto it = object.find(name);
  bool type_ok = it != object.end() &&
                 (it->type() == type ||
                  (type == json::value_t::number_unsigned &&
                   it->type() == json::value_t::number_integer && it->get<int64_t>() >= 0));
  if (!type_ok) Fail(path, std::string("damaged symbol table (member \"") + name + "\")");
  return *it;
}

uint64_t Unsigned(const json& value, const std::string& path) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) return value.get<uint64_t>();
  Fail(path, "damaged symbol table (expected an unsigned number)");
}

const std::string& PooledString(const json& value, const std::vector<std::string>& strings,
                                const std::string& path) {
  uint64_t index = Unsigned(value, path);
  if (index >= strings.size()) Fail(path, "damaged symbol table (string index out of range)");
  return strings[index];
}

}  // namespace

std::string SymbolTablePath(const std::string& recording) { return recording + ".awsym"; }

SymbolTable BuildSymbolTable(const ProcessModel& model, symbolize::Symbolizer& symbolizer) {
  SymbolTable table;
  table.pid = model.pid;
  table.session_id = model.session_id;
  table.start_realtime_ns = model.start_realtime_ns;
  // One table module per (path, build-id): a library loaded twice is one module.
  absl::flat_hash_map<std::pair<std::string, std::string>, uint32_t> module_index;
  std::vector<uint32_t> table_module_of(model.modules.size());
  for (size_t i = 0; i < model.modules.size(); ++i) {
    const ModuleInfo& mod = model.modules[i];
    auto [it, inserted] = module_index.try_emplace(std::make_pair(mod.path, mod.build_id),
                                                   static_cast<uint32_t>(table.modules.size()));
    if (inserted) table.modules.push_back(SymbolTableModule{mod.path, mod.build_id, true, ""});
    table_module_of[i] = it->second;
  }
  for (const auto& [id, frames] : model.stacks) {
    for (const RawFrame& raw : frames) {
      if (raw.module < 0) continue;
      uint32_t module = table_module_of[raw.module];
      auto [it, inserted] = table.entries.try_emplace(std::make_pair(module, raw.elf_address));
      if (!inserted) continue;
      const SymbolTableModule& mod = table.modules[module];
      size_t warnings_before = symbolizer.Warnings().size();
      // Recorded frames are return addresses (see StackSymbolizer::Frames).
      it->second = symbolizer.Symbolize({mod.path, mod.build_id}, raw.elf_address, true);
      if (symbolizer.Warnings().size() > warnings_before) {
        table.modules[module].matched = false;
        table.modules[module].warning = symbolizer.Warnings().back();
      }
    }
  }
  // Addresses of unmatched modules carry no information: the module's flag says it all.
  for (auto it = table.entries.begin(); it != table.entries.end();) {
    it = table.modules[it->first.first].matched ? std::next(it) : table.entries.erase(it);
  }
  return table;
}

void WriteSymbolTable(const SymbolTable& table, const std::string& path) {
  StringInterner<uint32_t> pool;  // function names and file paths, once each
  pool.Intern("");
  json modules = json::array();
  for (const SymbolTableModule& m : table.modules) {
    modules.push_back({{"path", m.path},
                       {"build_id", m.build_id},
                       {"matched", m.matched},
                       {"warning", m.warning}});
  }
  json addresses = json::array();
  for (const auto& [key, frames] : table.entries) {
    json frame_list = json::array();
    for (const symbolize::Frame& f : frames) {
      frame_list.push_back(json::array(
          {pool.Intern(f.function), pool.Intern(f.file), f.line, f.column, f.inlined ? 1 : 0}));
    }
    addresses.push_back(json::array({key.first, key.second, std::move(frame_list)}));
  }
  json doc = {{"format", kSymbolTableFormat},
              {"version", kSymbolTableVersion},
              {"recording",
               {{"pid", table.pid},
                {"session_id", table.session_id},
                {"start_realtime_ns", table.start_realtime_ns}}},
              {"modules", std::move(modules)},
              {"strings", pool.strings()},
              {"addresses", std::move(addresses)}};
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) Fail(temporary, "cannot create the symbol table");
    out << doc.dump() << "\n";
    out.flush();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(temporary, ec);
      Fail(temporary, "cannot write the symbol table");
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::filesystem::remove(temporary, ec);
    Fail(path, "cannot write the symbol table: " + ec.message());
  }
}

SymbolTable ReadSymbolTable(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail(path, "cannot open the symbol table");
  std::stringstream buffer;
  buffer << in.rdbuf();
  json doc = json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) Fail(path, "not a symbol table (not valid JSON; truncated?)");
  if (!doc.is_object() || doc.value("format", std::string()) != kSymbolTableFormat) {
    Fail(path, "not an allocwatch symbol table");
  }
  const json& version = Member(doc, "version", json::value_t::number_unsigned, path);
  if (version.get<uint64_t>() != kSymbolTableVersion) {
    Fail(path, "symbol table version " + std::to_string(version.get<uint64_t>()) +
                   " is not supported (this allocwatch reads version " +
                   std::to_string(kSymbolTableVersion) + ")");
  }
  SymbolTable table;
  const json& recording = Member(doc, "recording", json::value_t::object, path);
  table.pid = static_cast<uint32_t>(
      Unsigned(Member(recording, "pid", json::value_t::number_unsigned, path), path));
  table.session_id =
      Unsigned(Member(recording, "session_id", json::value_t::number_unsigned, path), path);
  table.start_realtime_ns =
      Unsigned(Member(recording, "start_realtime_ns", json::value_t::number_unsigned, path), path);
  for (const json& m : Member(doc, "modules", json::value_t::array, path)) {
    if (!m.is_object()) Fail(path, "damaged symbol table (module)");
    SymbolTableModule module;
    module.path = Member(m, "path", json::value_t::string, path).get<std::string>();
    module.build_id = Member(m, "build_id", json::value_t::string, path).get<std::string>();
    module.matched = Member(m, "matched", json::value_t::boolean, path).get<bool>();
    module.warning = Member(m, "warning", json::value_t::string, path).get<std::string>();
    table.modules.push_back(std::move(module));
  }
  std::vector<std::string> strings;
  for (const json& s : Member(doc, "strings", json::value_t::array, path)) {
    if (!s.is_string()) Fail(path, "damaged symbol table (strings)");
    strings.push_back(s.get<std::string>());
  }
  for (const json& entry : Member(doc, "addresses", json::value_t::array, path)) {
    if (!entry.is_array() || entry.size() != 3 || !entry[2].is_array()) {
      Fail(path, "damaged symbol table (address entry)");
    }
    uint64_t module = Unsigned(entry[0], path);
    if (module >= table.modules.size()) Fail(path, "damaged symbol table (module index)");
    std::vector<symbolize::Frame> frames;
    for (const json& f : entry[2]) {
      if (!f.is_array() || f.size() != 5) Fail(path, "damaged symbol table (frame)");
      symbolize::Frame frame;
      frame.function = PooledString(f[0], strings, path);
      frame.file = PooledString(f[1], strings, path);
      frame.line = static_cast<int>(std::min<uint64_t>(Unsigned(f[2], path), INT32_MAX));
      frame.column = static_cast<int>(std::min<uint64_t>(Unsigned(f[3], path), INT32_MAX));
      frame.inlined = Unsigned(f[4], path) != 0;
      frames.push_back(std::move(frame));
    }
    table.entries[{static_cast<uint32_t>(module), Unsigned(entry[1], path)}] = std::move(frames);
  }
  return table;
}

void CheckTableMatches(const SymbolTable& table, const ProcessModel& model,
                       const std::string& table_path) {
  if (table.pid != model.pid || table.session_id != model.session_id ||
      table.start_realtime_ns != model.start_realtime_ns) {
    Fail(table_path, "symbol table of another recording (pid " + std::to_string(table.pid) +
                         ", recording has pid " + std::to_string(model.pid) +
                         "); run allocwatch symbolize again or pass --no-symbol-table");
  }
}

}  // namespace allocwatch::report
