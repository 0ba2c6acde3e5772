// report/recording_reader.cc: see recording_reader.h.
#include "report/recording_reader.h"

#include <cerrno>
#include <cstring>

namespace allocwatch::report {

using format::RecordType;

uint32_t FixedRecordSize(RecordType type) {
  switch (type) {
    case RecordType::kProcess: return sizeof(format::ProcessRecord);
    case RecordType::kModuleLoad: return sizeof(format::ModuleLoadRecord);
    case RecordType::kModuleUnload: return sizeof(format::ModuleUnloadRecord);
    case RecordType::kThread: return sizeof(format::ThreadRecord);
    case RecordType::kStack: return sizeof(format::StackRecord);
    case RecordType::kAlloc: return sizeof(format::AllocRecord);
    case RecordType::kFree: return sizeof(format::FreeRecord);
    case RecordType::kMmap: return sizeof(format::MmapRecord);
    case RecordType::kMunmap: return sizeof(format::MunmapRecord);
    case RecordType::kMremap: return sizeof(format::MremapRecord);
    case RecordType::kSnapshot: return sizeof(format::SnapshotRecord);
    case RecordType::kFailure: return sizeof(format::FailureRecord);
    case RecordType::kLive: return sizeof(format::LiveRecord);
    case RecordType::kExec: return sizeof(format::ExecRecord);
    case RecordType::kEnd: return sizeof(format::EndRecord);
    case RecordType::kLost: return sizeof(format::LostRecord);
  }
  return 0;
}

RecordingReader::RecordingReader(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr) {
    throw ReadError(path + ": cannot open: " + std::strerror(errno));
  }
  format::FileHeader header{};
  size_t got = 0;
  if (!ReadExactly(&header, sizeof(header), &got) ||
      std::memcmp(header.magic, format::kMagic, sizeof(header.magic)) != 0) {
    std::fclose(file_);
    file_ = nullptr;
    throw ReadError(path + ": not an allocwatch recording (bad magic)");
  }
  if (header.version != format::kVersion) {
    std::fclose(file_);
    file_ = nullptr;
    throw ReadError(path + ": recording format version " + std::to_string(header.version) +
                    " is not supported (this allocwatch reads version " +
                    std::to_string(format::kVersion) + ")");
  }
  if (header.header_size < sizeof(header) || header.header_size > 4096 ||
      std::fseek(file_, header.header_size, SEEK_SET) != 0) {
    std::fclose(file_);
    file_ = nullptr;
    throw ReadError(path + ": damaged file header");
  }
  offset_ = header.header_size;
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
}

RecordingReader::~RecordingReader() {
  if (file_ != nullptr) std::fclose(file_);
}

bool RecordingReader::ReadExactly(void* out, size_t size, size_t* got) {
  *got = std::fread(out, 1, size, file_);
  return *got == size;
}

void RecordingReader::Stop(const std::string& why) {
  done_ = true;
  warning_ = path_ + ": " + why + " at offset " + std::to_string(offset_) +
             "; using the records before it";
}

std::optional<RawRecord> RecordingReader::Next() {
  const RawRecord* r = NextView();
  if (r == nullptr) return std::nullopt;
  return *r;
}

const RawRecord* RecordingReader::NextView() {
  while (!done_) {
    format::RecordHeader header{};
    size_t got = 0;
    if (!ReadExactly(&header, sizeof(header), &got)) {
      done_ = true;
      if (got == 0) {
        clean_end_ = true;
      } else {
        Stop("truncated record header");
      }
      return nullptr;
    }
    if (header.size < sizeof(header) || header.size % 8 != 0 ||
        header.size > format::kMaxRecordSize) {
      Stop("damaged record (size " + std::to_string(header.size) + ")");
      return nullptr;
    }
    auto type = static_cast<RecordType>(header.type);
    uint32_t fixed = FixedRecordSize(type);
    if (fixed != 0 && header.size < fixed) {
      Stop("damaged record (type " + std::to_string(header.type) + " too short)");
      return nullptr;
    }
    record_.type = type;
    record_.flags = header.flags;
    record_.offset = offset_;
    record_.bytes.resize(header.size);
    std::memcpy(record_.bytes.data(), &header, sizeof(header));
    if (!ReadExactly(record_.bytes.data() + sizeof(header), header.size - sizeof(header), &got)) {
      Stop("truncated record");
      return nullptr;
    }
    offset_ += header.size;
    if (fixed == 0) continue;  // a record type this version does not know: skip it
    return &record_;
  }
  return nullptr;
}

}  // namespace allocwatch::report
