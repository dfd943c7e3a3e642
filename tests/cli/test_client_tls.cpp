// The API client over https, as the CLI and the device agent use it: a server
// whose certificate is not in the system's store (a private CA, or any server
// seen from a phone, which has no store OpenSSL finds) is trusted with
// --ca-cert (ClientOptions::ca_cert) and refused without it, at once and with
// a message that names the flag; a file that cannot be read is named too. The server is cpp-httplib's SSLServer in-process, with a
// certificate made by the openssl command for 127.0.0.1.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "client/api_client.hpp"
#include "engine/util/error.hpp"
#include "tests/support/test_data.hpp"

namespace flashnas {
namespace {

TEST(ClientTls, AnHttpsServerIsTrustedThroughTheCaCertFileOnly) {
  const std::filesystem::path dir = test::scratch_dir("client_tls");
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  const std::string make_cert = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=flashnas-test "
                                "-addext subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert +
                                " >/dev/null 2>&1";
  ASSERT_EQ(std::system(make_cert.c_str()), 0) << make_cert;

  httplib::SSLServer server(cert.c_str(), key.c_str());
  ASSERT_TRUE(server.is_valid());
  server.Get("/v1/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status": "ok"})", "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  // Bound and listening already; stopped and joined however the test ends.
  struct Serving {
    httplib::SSLServer& server;
    std::thread thread;
    ~Serving() {
      server.stop();
      thread.join();
    }
  } serving{server, std::thread([&] { server.listen_after_bind(); })};

  client::ClientOptions options;
  options.server = "https://127.0.0.1:" + std::to_string(port);
  options.retry_seconds = 0;
  options.request_timeout_seconds = 5;

  options.ca_cert = cert;
  EXPECT_EQ(client::ApiClient(options).get("/v1/health").at("status"), "ok");

  options.ca_cert.clear();  // the system's store does not hold the test CA
  options.retry_seconds = 30;  // a certificate it does not trust is not retried
  const auto start = std::chrono::steady_clock::now();
  try {
    client::ApiClient(options).get("/v1/health");
    ADD_FAILURE() << "a server with an untrusted certificate was accepted";
  } catch (const client::ClientError& e) {
    EXPECT_EQ(e.kind(), client::ClientErrorKind::refused);
    EXPECT_NE(std::string(e.what()).find("--ca-cert"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));

  options.ca_cert = (dir / "missing.pem").string();
  try {
    client::ApiClient refused(options);
    ADD_FAILURE() << "an unreadable --ca-cert was accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("--ca-cert"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace flashnas
