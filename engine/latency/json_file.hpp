// Reading and writing the JSON files of the latency tools (architectures, shapes,
// spaces, models, measurement logs), with errors that name the flag or field the
// path came from. Not a general configuration system.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace flashnas::latency {

// Parses the whole file; throws InvalidInput(field) when it is missing, larger
// than 256 MB, or not valid JSON (with the parser's position).
nlohmann::json read_json_file(const std::string& path, const std::string& field);

// Writes `j` (indented by `indent`, -1 for one line) to path + ".part", then
// renames it over `path`, so a reader never sees half a file. Throws Error.
void write_json_file(const std::string& path, const nlohmann::json& j, int indent = 2);

}  // namespace flashnas::latency
