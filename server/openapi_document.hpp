// The OpenAPI 3.1 description of the API (server/openapi.json, embedded at build time).
#pragma once

#include <string_view>

namespace flashnas::server {

std::string_view openapi_document();

}  // namespace flashnas::server
