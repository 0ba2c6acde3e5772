// report/analysis/cgroup_limit.cc: see cgroup_limit.h.
#include "report/analysis/cgroup_limit.h"

#include <memory>

#include "preload/format/record_format.h"
#include "preload/procfs/cgroup_reader.h"

namespace allocwatch::report {

LimitSource LiveCgroupLimit(std::string root) {
  return [root](const ProcessModel& model) -> std::optional<MemoryLimit> {
    auto cg = std::make_unique<preload::CgroupReading>();
    std::string proc = "/proc/" + std::to_string(model.pid);
    preload::ReadCgroup(root.c_str(), cg.get(), proc.c_str());
    // No limited level with a known usage, or the binding level is past those stored.
    if (cg->version == format::kCgroupNone || cg->binding_level >= cg->level_count) {
      return std::nullopt;
    }
    const format::CgroupLevel& level = cg->levels[cg->binding_level];
    const char* source = cg->version == format::kCgroupV1
                             ? "cgroup v1 memory.limit_in_bytes, read now"
                             : "cgroup v2 memory.max, read now";
    return MemoryLimit{source, "cgroup usage", level.limit, level.usage, model.duration_ns};
  };
}

}  // namespace allocwatch::report
