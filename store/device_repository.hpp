// Registered devices: SQL for the devices of a project whose agents measure
// latency over the device protocol. A device's token is stored as its sha256
// (the caller hashes; this layer never sees a token). Not the protocol's rules
// (app/devices.hpp) nor worker-side measuring.
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "store/records.hpp"

namespace flashnas::store {

struct NewDevice {
  int64_t project_id = 0;
  std::string kind, name;
  nlohmann::json info = nlohmann::json::object();  // CPU, threads, runtime: what the user says
  std::string token_hash;                           // sha256 hex of the token
  std::string token_prefix;                         // its first characters, for humans
};

// Nullopt when the project already has a device of that kind and name.
std::optional<Device> device_register(pqxx::transaction_base& tx, const NewDevice& device);
std::optional<Device> device_get(pqxx::transaction_base& tx, int64_t project_id, int64_t device_id);
// The project's devices, newest first (revoked ones too).
std::vector<Device> device_list(pqxx::transaction_base& tx, int64_t project_id);
// Revokes the device's token; false when the project has no live device with that id.
bool device_revoke(pqxx::transaction_base& tx, int64_t project_id, int64_t device_id);

// The live (not revoked) registered device with this token hash; records that
// it was seen (at most once a second, so a polling agent costs no write storm).
std::optional<Device> device_authenticate(pqxx::transaction_base& tx, const std::string& token_hash);

// Whether the project has a live device of `kind` (registered), and whether one
// of them called within `seconds` (an agent is serving the kind).
bool device_kind_registered(pqxx::transaction_base& tx, int64_t project_id, const std::string& kind);
bool device_kind_live(pqxx::transaction_base& tx, int64_t project_id, const std::string& kind, double seconds);

}  // namespace flashnas::store
