// Forward declarations of the JSON field reader (json_reader.hpp), for headers
// that declare read_<x>(JsonObjectReader&) or validate(FieldErrors&) without
// pulling in nlohmann/json.hpp.
#pragma once

namespace flashnas {

class FieldErrors;
class JsonObjectReader;

}  // namespace flashnas
