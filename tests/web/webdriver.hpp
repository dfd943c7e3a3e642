// A WebDriver client for the browser tests: starts chromedriver on a free port,
// opens a headless Debian chromium session, and speaks the W3C WebDriver
// protocol (JSON over HTTP) with the test's own HTTP client. Pages are driven
// by running JavaScript in them (execute), which keeps each step explicit.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace flashnas::test {

class WebDriver {
 public:
  WebDriver() {
    port_ = free_port();
    pid_ = fork();
    if (pid_ == 0) {
      const std::string port = "--port=" + std::to_string(port_);
      execlp("chromedriver", "chromedriver", port.c_str(), "--log-level=OFF", static_cast<char*>(nullptr));
      _exit(127);
    }
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(60);
    for (int i = 0; i < 100; ++i) {
      if (auto r = client_->Get("/status"); r && r->status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const nlohmann::json caps = {
        {"capabilities",
         {{"alwaysMatch",
           {{"browserName", "chrome"},
            {"goog:chromeOptions",
             {{"binary", "/usr/bin/chromium"},
              {"args", {"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--window-size=1400,1300"}}}}}}}}};
    session_ = command("POST", "/session", caps).at("sessionId").get<std::string>();
  }
  ~WebDriver() {
    if (!session_.empty()) client_->Delete(("/session/" + session_).c_str());
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }

  void go(const std::string& url) { command("POST", path("/url"), {{"url", url}}); }

  // Runs `script` (a function body; `return` gives the value) in the page.
  nlohmann::json run(const std::string& script) {
    return command("POST", path("/execute/sync"), {{"script", script}, {"args", nlohmann::json::array()}});
  }

  // Polls `script` until it returns true (or the timeout passes: false).
  bool wait_for(const std::string& script, double seconds = 20) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      if (run(script) == true) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // Saves a PNG screenshot of the window.
  void screenshot(const std::string& file) {
    const std::string b64 = command("GET", path("/screenshot"), nullptr).get<std::string>();
    std::ofstream(file, std::ios::binary) << decode_base64(b64);
  }

 private:
  std::string path(const std::string& tail) const { return "/session/" + session_ + tail; }

  nlohmann::json command(const std::string& method, const std::string& p, const nlohmann::json& body) {
    httplib::Result r = method == "GET" ? client_->Get(p.c_str())
                                        : client_->Post(p.c_str(), body.dump(), "application/json");
    if (!r) throw std::runtime_error("chromedriver did not answer " + method + " " + p);
    const auto j = nlohmann::json::parse(r->body);
    if (r->status != 200) throw std::runtime_error("webdriver " + p + ": " + r->body.substr(0, 500));
    return j.at("value");
  }

  static std::string decode_base64(const std::string& in) {
    std::string out(in.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
    if (n < 0) throw std::runtime_error("webdriver: the screenshot is not base64");
    out.resize(static_cast<size_t>(n) - static_cast<size_t>(std::count(in.end() - std::min<size_t>(2, in.size()), in.end(), '=')));
    return out;
  }

  // A port nothing listens on now (the kernel's pick for a socket bound to port 0).
  static int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("webdriver: no free port");
    }
    close(fd);
    return ntohs(addr.sin_port);
  }

  int port_ = 0;
  pid_t pid_ = -1;
  std::unique_ptr<httplib::Client> client_;
  std::string session_;
};

}  // namespace flashnas::test
