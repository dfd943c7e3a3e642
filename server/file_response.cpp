// Stored files as answers (see file_response.hpp).
#include "server/file_response.hpp"

#include <fmt/format.h>

#include <fstream>
#include <memory>
#include <vector>

#include "engine/util/error.hpp"

namespace flashnas::server {

void send_stored_file(RequestContext& ctx, const StoredFileAnswer& file) {
  auto& res = ctx.response();
  const std::string etag = fmt::format("\"{}\"", file.sha256);
  res.set_header("ETag", etag);
  res.set_header("Cache-Control", "private, max-age=31536000, immutable");  // content-addressed
  if (ctx.request().get_header_value("If-None-Match") == etag) {
    res.status = 304;
    return;
  }
  std::error_code error;
  const auto size = std::filesystem::file_size(file.path, error);
  if (error) throw Error(fmt::format("stored file {} is missing: {}", file.path.string(), error.message()));
  auto in = std::make_shared<std::ifstream>(file.path, std::ios::binary);
  if (!*in) throw Error(fmt::format("stored file {} cannot be opened", file.path.string()));
  // The status stays unset: cpp-httplib then answers 200, or 206 with the
  // requested range of the provider's content (416 for an unsatisfiable one).
  res.set_header("Accept-Ranges", "bytes");
  res.set_header("Content-Disposition", fmt::format("attachment; filename=\"{}\"", file.download_name));
  // Called for each chunk the client is sent (and, for a Range request, only for that range).
  res.set_content_provider(
      static_cast<size_t>(size), file.content_type,
      [in, buffer = std::make_shared<std::vector<char>>(1 << 16)](size_t offset, size_t length, httplib::DataSink& sink) {
        in->clear();
        in->seekg(static_cast<std::streamoff>(offset));
        const size_t n = std::min(length, buffer->size());
        in->read(buffer->data(), static_cast<std::streamsize>(n));
        const auto got = static_cast<size_t>(in->gcount());
        if (got == 0) return false;  // the file shrank: end the answer early
        return sink.write(buffer->data(), got);
      });
}

}  // namespace flashnas::server
