#include "harness/core/zip_check.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <string_view>

#include "harness/core/check.h"

namespace swavbench {
namespace {

// Record signatures and fixed sizes (PKWARE APPNOTE 4.3).
constexpr uint32_t kLocalHeader = 0x04034b50;           // 30 bytes + name + extra
constexpr uint32_t kCentralHeader = 0x02014b50;         // 46 bytes + name + extra + comment
constexpr uint32_t kEndOfCentralDir = 0x06054b50;       // 22 bytes + comment
constexpr uint32_t kZip64EndOfCentralDir = 0x06064b50;  // 56 bytes
constexpr uint32_t kZip64Locator = 0x07064b50;          // 20 bytes
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint64_t kMaxEntries = 1000000;

// Little-endian reads that refuse to run past the end of the file.
class Reader {
 public:
  Reader(const std::string& bytes, const std::string& path) : bytes_(bytes), path_(path) {}

  uint64_t u(uint64_t offset, int width, const char* what) const {
    check_inside(offset, static_cast<uint64_t>(width), what);
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i)
      v = (v << 8) | static_cast<unsigned char>(bytes_[static_cast<size_t>(offset) + i]);
    return v;
  }
  std::string_view span(uint64_t offset, uint64_t size, const char* what) const {
    check_inside(offset, size, what);
    return std::string_view(bytes_).substr(static_cast<size_t>(offset), static_cast<size_t>(size));
  }
  size_t size() const { return bytes_.size(); }

 private:
  void check_inside(uint64_t offset, uint64_t size, const char* what) const {
    SB_INPUT_CHECK(offset <= bytes_.size() && size <= bytes_.size() - offset,
                   "{}: cannot read checkpoint (the zip file ends inside its {}: the file is "
                   "truncated or damaged); delete it to retrain (or run with --force)",
                   path_, what);
  }

  const std::string& bytes_;
  const std::string& path_;
};

[[noreturn]] void damaged(const std::string& path, const std::string& what) {
  throw InputError(fmt::format(
      "{}: cannot read checkpoint ({}: the file is damaged); delete it to retrain (or run with "
      "--force)",
      path, what));
}

struct Directory {
  uint64_t entries = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
};

Directory find_directory(const Reader& in, const std::string& path) {
  // The end record is the last 22 bytes, or sits before a comment of up to 65535 bytes.
  SB_INPUT_CHECK(in.size() >= 22,
                 "{}: cannot read checkpoint ({} bytes, too short for a zip file: the file is "
                 "truncated); delete it to retrain (or run with --force)",
                 path, in.size());
  uint64_t end = in.size() - 22;
  const uint64_t lowest = in.size() >= 22 + 65535 ? in.size() - 22 - 65535 : 0;
  while (in.u(end, 4, "end record") != kEndOfCentralDir) {
    if (end == lowest) damaged(path, "no zip end-of-central-directory record");
    --end;
  }
  SB_INPUT_CHECK(end + 22 + in.u(end + 20, 2, "end record") == in.size(),
                 "{}: cannot read checkpoint (bytes after the zip end record: the file is "
                 "damaged); delete it to retrain (or run with --force)",
                 path);
  Directory d{in.u(end + 10, 2, "end record"), in.u(end + 16, 4, "end record"),
              in.u(end + 12, 4, "end record")};
  const bool zip64 = d.entries == 0xFFFF || d.offset == 0xFFFFFFFF || d.size == 0xFFFFFFFF;
  if (zip64) {
    if (end < 20 || in.u(end - 20, 4, "zip64 locator") != kZip64Locator)
      damaged(path, "a zip64 end record without its locator");
    const uint64_t record = in.u(end - 20 + 8, 8, "zip64 locator");
    if (in.u(record, 4, "zip64 end record") != kZip64EndOfCentralDir)
      damaged(path, "the zip64 end record is not where its locator says");
    d = {in.u(record + 32, 8, "zip64 end record"), in.u(record + 48, 8, "zip64 end record"),
         in.u(record + 40, 8, "zip64 end record")};
  }
  if (d.entries > kMaxEntries) damaged(path, fmt::format("{} zip entries", d.entries));
  if (d.offset > in.size() || d.size > in.size() - d.offset)
    damaged(path, "the zip central directory lies outside the file");
  return d;
}

uint32_t crc_of(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib's crc32 takes at most UINT_MAX bytes a call.
  for (size_t done = 0; done < bytes.size();) {
    const size_t chunk = std::min<size_t>(bytes.size() - done, size_t{1} << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), static_cast<uInt>(chunk));
    done += chunk;
  }
  return static_cast<uint32_t>(crc);
}

// The CRC-32 of a raw-deflated entry's inflated bytes, which must be exactly `size` long
// (inflated a buffer at a time: a damaged stream cannot make this allocate more).
uint32_t crc_of_deflated(std::string_view deflated, uint64_t size, const std::string& name,
                         const std::string& path) {
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) damaged(path, "zlib cannot start inflating");
  uLong crc = crc32(0L, Z_NULL, 0);
  uint64_t produced = 0;
  unsigned char buffer[1 << 16];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(deflated.data()));
  z.avail_in = static_cast<uInt>(std::min<size_t>(deflated.size(), UINT32_MAX));
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = buffer;
    z.avail_out = sizeof(buffer);
    rc = inflate(&z, Z_NO_FLUSH);
    const size_t got = sizeof(buffer) - z.avail_out;
    produced += got;
    crc = crc32(crc, buffer, static_cast<uInt>(got));
    if (produced > size || (rc == Z_BUF_ERROR && got == 0)) break;
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END || produced != size)
    damaged(path, fmt::format("entry '{}' does not inflate to its {} bytes", name, size));
  return static_cast<uint32_t>(crc);
}

}  // namespace

void check_zip_archive(const std::string& bytes, const std::string& path) {
  const Reader in(bytes, path);
  const Directory dir = find_directory(in, path);
  uint64_t at = dir.offset;
  for (uint64_t i = 0; i < dir.entries; ++i) {
    if (at + 46 > dir.offset + dir.size || in.u(at, 4, "central directory") != kCentralHeader)
      damaged(path,
              fmt::format("zip central directory entry {} of {} is missing", i + 1, dir.entries));
    const uint64_t flags = in.u(at + 8, 2, "central directory");
    const uint64_t method = in.u(at + 10, 2, "central directory");
    const uint32_t crc = static_cast<uint32_t>(in.u(at + 16, 4, "central directory"));
    uint64_t compressed = in.u(at + 20, 4, "central directory");
    uint64_t uncompressed = in.u(at + 24, 4, "central directory");
    const uint64_t name_length = in.u(at + 28, 2, "central directory");
    const uint64_t extra_length = in.u(at + 30, 2, "central directory");
    const uint64_t comment_length = in.u(at + 32, 2, "central directory");
    uint64_t local = in.u(at + 42, 4, "central directory");
    const std::string name(in.span(at + 46, name_length, "central directory"));
    // Sizes and offsets of 0xFFFFFFFF are in the zip64 extra field, in this order.
    const std::string_view extra =
        in.span(at + 46 + name_length, extra_length, "central directory");
    for (size_t e = 0; e + 4 <= extra.size();) {
      const uint64_t id = in.u(at + 46 + name_length + e, 2, "central directory");
      const uint64_t size = in.u(at + 46 + name_length + e + 2, 2, "central directory");
      if (e + 4 + size > extra.size())
        damaged(path, fmt::format("entry '{}' has a malformed extra field", name));
      if (id == kZip64ExtraId) {
        uint64_t field = at + 46 + name_length + e + 4, field_end = field + size;
        for (uint64_t* value : {&uncompressed, &compressed, &local}) {
          if (*value != 0xFFFFFFFF) continue;
          if (field + 8 > field_end)
            damaged(path, fmt::format("entry '{}' lacks its zip64 sizes", name));
          *value = in.u(field, 8, "central directory");
          field += 8;
        }
      }
      e += 4 + size;
    }
    if (flags & 1) damaged(path, fmt::format("entry '{}' is encrypted", name));
    if (method != 0 && method != 8)
      damaged(path,
              fmt::format("entry '{}' uses zip method {} (not stored or deflated)", name, method));
    if (method == 0 && compressed != uncompressed)
      damaged(path, fmt::format("entry '{}' is stored with two different sizes", name));
    if (local >= dir.offset || in.u(local, 4, "local header") != kLocalHeader)
      damaged(path, fmt::format("entry '{}' has no local header where the directory says", name));
    const uint64_t data =
        local + 30 + in.u(local + 26, 2, "local header") + in.u(local + 28, 2, "local header");
    if (data > dir.offset || compressed > dir.offset - data)
      damaged(path, fmt::format("entry '{}' runs past the end of the file's data", name));
    const std::string_view payload = in.span(data, compressed, "entry");
    const uint32_t actual =
        method == 0 ? crc_of(payload) : crc_of_deflated(payload, uncompressed, name, path);
    if (actual != crc) damaged(path, fmt::format("entry '{}' fails its CRC-32 check", name));
    at += 46 + name_length + extra_length + comment_length;
  }
}

}  // namespace swavbench
