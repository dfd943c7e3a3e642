// tar_reader against archives written by GNU tar (the independent reference) in
// its ustar, gnu and pax formats, and against hand-corrupted headers.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/util/error.hpp"
#include "app/tar_reader.hpp"
#include "tests/support/test_data.hpp"

namespace flashnas::app {
namespace {

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes config.json and model.safetensors into a scratch dir and tars them with GNU tar.
std::string make_archive(const std::string& format, const std::string& tag) {
  const auto dir = test::scratch_dir("tar_" + tag);
  std::ofstream(dir / "config.json") << R"({"hidden_size": 64})";
  std::string big(3000, 'x');  // spans several 512-byte blocks
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  std::ofstream(dir / "model.safetensors", std::ios::binary) << big;
  const auto out = dir / "model.tar";
  const std::string cmd = "tar --format=" + format + " -C " + dir.string() + " -cf " + out.string() +
                          " config.json ./model.safetensors";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return read_all(out);
}

// Rewrites the checksum of the header at `offset` after a test edited it.
void fix_checksum(std::string& archive, size_t offset) {
  for (size_t i = 148; i < 156; ++i) archive[offset + i] = ' ';
  unsigned sum = 0;
  for (size_t i = 0; i < 512; ++i) sum += static_cast<unsigned char>(archive[offset + i]);
  std::snprintf(&archive[offset + 148], 8, "%06o", sum);
  archive[offset + 155] = ' ';
}

TEST(TarReader, ReadsEveryFormatGnuTarWrites) {
  for (const std::string format : {"ustar", "gnu", "pax"}) {
    const std::string archive = make_archive(format, format);
    const auto files = read_tar_files(archive);
    ASSERT_EQ(files.size(), 2u) << format;
    EXPECT_EQ(files[0].name, "config.json") << format;
    EXPECT_EQ(files[0].data, R"({"hidden_size": 64})") << format;
    EXPECT_EQ(files[1].name, "model.safetensors") << format;  // "./" stripped
    ASSERT_EQ(files[1].data.size(), 3000u) << format;
    EXPECT_EQ(files[1].data[2999], static_cast<char>('a' + 2999 % 26)) << format;
  }
}

TEST(TarReader, RefusesCorruptChecksum) {
  std::string archive = make_archive("ustar", "checksum");
  archive[10] ^= 1;  // inside the first name, checksum not updated
  EXPECT_THROW(read_tar_files(archive), InvalidInput);
}

TEST(TarReader, RefusesTruncatedContent) {
  const std::string archive = make_archive("ustar", "truncated");
  EXPECT_THROW(read_tar_files(archive.substr(0, 512 + 512 + 1000)), InvalidInput);
  EXPECT_THROW(read_tar_files(archive.substr(0, 300)), InvalidInput);
  EXPECT_THROW(read_tar_files(""), InvalidInput);
}

TEST(TarReader, RefusesClimbingAndAbsoluteNames) {
  for (const std::string bad : {"../config.json", "/etc/passwd", "a/../../b"}) {
    std::string archive = make_archive("ustar", "names");
    std::fill(archive.begin(), archive.begin() + 100, '\0');
    std::copy(bad.begin(), bad.end(), archive.begin());
    fix_checksum(archive, 0);
    try {
      read_tar_files(archive);
      FAIL() << bad << " accepted";
    } catch (const InvalidInput& e) {
      EXPECT_EQ(e.field(), "body");
    }
  }
}

TEST(TarReader, RefusesOversizedSizeField) {
  std::string archive = make_archive("ustar", "size");
  std::snprintf(&archive[124], 12, "%011o", 077777777);  // far beyond the archive
  fix_checksum(archive, 0);
  EXPECT_THROW(read_tar_files(archive), InvalidInput);
}

TEST(TarReader, RefusesNonTarBytes) {
  EXPECT_THROW(read_tar_files(std::string(2048, 'z')), InvalidInput);
}

}  // namespace
}  // namespace flashnas::app
