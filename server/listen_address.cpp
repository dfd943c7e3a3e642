// --listen parsing.
#include "server/listen_address.hpp"

#include "engine/util/error.hpp"

namespace flashnas::server {

ListenAddress parse_listen_address(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    throw InvalidInput("--listen must be HOST:PORT, got '" + text + "'", "--listen");
  }
  ListenAddress out;
  out.host = text.substr(0, colon);
  if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  const std::string port = text.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535) {
    throw InvalidInput("--listen port must be 0..65535, got '" + port + "'", "--listen");
  }
  out.port = std::stoi(port);
  return out;
}

}  // namespace flashnas::server
