// The dashboard's static files (web/), built into the server binary so that
// flashnas-server serves it at / with no web server or install step beside it.
#pragma once

#include <optional>
#include <string_view>

namespace flashnas::server {

struct WebAsset {
  std::string_view path;          // as requested: "/", "/web/app.js", "/web/style.css"
  std::string_view content_type;
  std::string_view body;
};

// nullopt for a path that is not one of the dashboard's files.
std::optional<WebAsset> web_asset(std::string_view path);

}  // namespace flashnas::server
