// Parsing --listen HOST:PORT (IPv4 address or name; "[::1]:8080" for IPv6).
#pragma once

#include <string>

namespace flashnas::server {

struct ListenAddress {
  std::string host;
  int port = 0;  // 0..65535; 0 asks for any free port
};

// Throws InvalidInput (field "--listen") naming what is wrong.
ListenAddress parse_listen_address(const std::string& text);

}  // namespace flashnas::server
