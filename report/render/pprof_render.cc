// report/render/pprof_render.cc: the pprof profile (profile.proto, gzip-compressed), encoded here
// field by field. Field numbers are those of github.com/google/pprof/proto/profile.proto.
#include <zlib.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "report/render/render.h"
#include "report/symbols/string_interner.h"

namespace allocwatch::report {
namespace {

// A protobuf message being written: varints, length-delimited fields, packed repeated fields.
class Message {
 public:
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      bytes_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    bytes_.push_back(static_cast<char>(v));
  }
  void Tag(uint32_t field, uint32_t wire_type) { Varint((uint64_t{field} << 3) | wire_type); }
  void UInt(uint32_t field, uint64_t v) {
    if (v == 0) return;  // the default; proto3 leaves it out
    Tag(field, 0);
    Varint(v);
  }
  void Int(uint32_t field, int64_t v) { UInt(field, static_cast<uint64_t>(v)); }
  void Bool(uint32_t field, bool v) { UInt(field, v ? 1 : 0); }
  void Bytes(uint32_t field, const std::string& s) {
    Tag(field, 2);
    Varint(s.size());
    bytes_.append(s);
  }
  void Sub(uint32_t field, const Message& m) { Bytes(field, m.bytes_); }
  void Packed(uint32_t field, const std::vector<uint64_t>& values) {
    if (values.empty()) return;
    Message body;
    for (uint64_t v : values) body.Varint(v);
    Bytes(field, body.bytes_);
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

std::string Gzip(const std::string& data) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("zlib: deflateInit2 failed");
  }
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  size_t written = out.size() - z.avail_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("zlib: deflate failed");
  out.resize(written);
  return out;
}

uint64_t Round(double v) { return v <= 0 ? 0 : static_cast<uint64_t>(std::llround(v)); }

}  // namespace

std::string RenderPprof(const std::vector<ProcessReport>& reports,
                        const std::string& default_type) {
  StringInterner<int64_t> strings;
  strings.Intern("");  // pprof: string 0 is the empty string
  Message profile;
  const std::pair<const char*, const char*> kTypes[] = {{"alloc_objects", "count"},
                                                        {"alloc_space", "bytes"},
                                                        {"inuse_objects", "count"},
                                                        {"inuse_space", "bytes"}};
  for (const auto& [type, unit] : kTypes) {
    Message vt;
    vt.Int(1, strings.Intern(type));
    vt.Int(2, strings.Intern(unit));
    profile.Sub(1, vt);
  }

  uint64_t next_mapping = 1, next_location = 1, next_function = 1;
  std::map<std::tuple<std::string, std::string, int64_t>, uint64_t> functions;  // name, file, line
  uint64_t start_realtime = 0, duration = 0, period = 1;
  for (const ProcessReport& r : reports) {
    const ProcessModel& m = *r.model;
    if (start_realtime == 0 || (m.start_realtime_ns != 0 && m.start_realtime_ns < start_realtime)) {
      start_realtime = m.start_realtime_ns;
    }
    duration = std::max(duration, m.duration_ns);
    period = std::max(period, m.sample_bytes);
    // Mappings: one per module of this process.
    std::map<std::string, uint64_t> mapping_of;  // module path -> mapping id
    for (const ModuleInfo& mod : m.modules) {
      if (mapping_of.count(mod.path)) continue;
      uint64_t id = next_mapping++;
      mapping_of[mod.path] = id;
      Message mp;
      mp.UInt(1, id);
      mp.UInt(2, mod.start);
      mp.UInt(3, mod.end);
      // file_offset (4) stays 0: locations carry their functions, pprof need not map addresses.
      mp.Int(5, strings.Intern(mod.path));
      mp.Int(6, strings.Intern(mod.build_id));
      mp.Bool(7, true);
      mp.Bool(8, true);
      mp.Bool(9, true);
      mp.Bool(10, true);
      profile.Sub(3, mp);
    }
    absl::flat_hash_map<uint64_t, uint64_t> location_of;  // address -> location id
    for (const StackEntry& e : r.stacks) {
      const SiteFigures& f = e.figures;
      std::vector<uint64_t> values = {Round(f.alloc_count) + f.mmap_calls,
                                      Round(f.alloc_bytes + f.mapped_bytes), Round(f.live_count),
                                      Round(f.live_bytes + f.mapped_live_bytes)};
      if (values[0] == 0 && values[1] == 0 && values[2] == 0 && values[3] == 0) continue;
      std::vector<uint64_t> locations;
      for (size_t i = 0; i < e.frames.size();) {
        // Frames of one address (inlined ones first) form one location.
        size_t j = i;
        while (j < e.frames.size() && e.frames[j].address == e.frames[i].address) ++j;
        uint64_t address = e.frames[i].address;
        auto [it, inserted] = location_of.try_emplace(address, next_location);
        if (inserted) {
          Message loc;
          loc.UInt(1, next_location++);
          auto mp = mapping_of.find(e.frames[i].module);
          if (mp != mapping_of.end()) loc.UInt(2, mp->second);
          loc.UInt(3, address);
          for (size_t k = i; k < j; ++k) {
            const DisplayFrame& fr = e.frames[k];
            std::string name = FoldedFrameName(fr);
            auto key = std::make_tuple(name, fr.file, int64_t{0});
            auto [fit, fnew] = functions.try_emplace(key, next_function);
            if (fnew) {
              Message fn;
              fn.UInt(1, next_function++);
              fn.Int(2, strings.Intern(name));
              fn.Int(3, strings.Intern(name));
              fn.Int(4, strings.Intern(fr.file));
              profile.Sub(5, fn);
            }
            Message line;
            line.UInt(1, fit->second);
            line.Int(2, fr.line);
            loc.Sub(4, line);
          }
          profile.Sub(4, loc);
        }
        locations.push_back(it->second);
        i = j;
      }
      Message sample;
      sample.Packed(1, locations);
      sample.Packed(2, values);
      Message pid;
      pid.Int(1, strings.Intern("pid"));
      pid.Int(3, m.pid);
      sample.Sub(3, pid);
      Message program;
      program.Int(1, strings.Intern("program"));
      program.Int(2, strings.Intern(m.exe.substr(m.exe.rfind('/') + 1)));
      sample.Sub(3, program);
      profile.Sub(2, sample);
    }
  }
  // Every string id is taken before the table is written.
  Message period_type;
  period_type.Int(1, strings.Intern("space"));
  period_type.Int(2, strings.Intern("bytes"));
  int64_t default_index = strings.Intern(default_type);
  for (const std::string& s : strings.strings()) profile.Bytes(6, s);
  profile.Int(9, static_cast<int64_t>(start_realtime));
  profile.Int(10, static_cast<int64_t>(duration));
  profile.Sub(11, period_type);
  profile.Int(12, static_cast<int64_t>(period));
  profile.Int(14, default_index);
  return Gzip(profile.bytes());
}

}  // namespace allocwatch::report
