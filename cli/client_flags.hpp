// The flags every client command shares (--server, --key) and the client they make.
#pragma once

#include <string>
#include <vector>

#include "client/api_client.hpp"
#include "common/flags.hpp"

namespace flashnas::cli {

// `specific` with --server, --key and --help added.
std::vector<FlagSpec> with_client_flags(std::vector<FlagSpec> specific);

// --server (else FLASHNAS_SERVER) and --key (else FLASHNAS_API_KEY), both required.
client::ClientOptions client_options(const Flags& flags);

// The one operand a command takes as a positive id (a job id): InvalidInput naming `name` otherwise.
int64_t parse_id_operand(const std::string& text, const std::string& name);

}  // namespace flashnas::cli
