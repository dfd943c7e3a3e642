// Answers with a stored file, streamed from disk (never held whole in memory):
// a strong ETag of its content hash (If-None-Match -> 304), Range requests
// (206, done by cpp-httplib on the content provider), and a download name.
#pragma once

#include <filesystem>
#include <string>

#include "server/router.hpp"

namespace flashnas::server {

struct StoredFileAnswer {
  std::filesystem::path path;
  std::string sha256;        // the file's content hash: the ETag
  std::string content_type;
  std::string download_name;  // Content-Disposition: attachment; filename=...
};

// Throws (a 500 for the client) when the file is missing: the database says it exists.
void send_stored_file(RequestContext& ctx, const StoredFileAnswer& file);

}  // namespace flashnas::server
