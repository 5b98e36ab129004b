#pragma once

// The real control plane that hack/testenv/up.sh started for these tests (ctest fixture
// kube_testenv): where it is, how to reach it, and the scripts that disturb it.

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "schedkit/net/http.h"

namespace schedkit::testenv {

class KubeTestenv {
 public:
  // SCHEDKIT_KUBE_TESTENV names the directory (set by tests/integration/kube/CMakeLists.txt).
  static const KubeTestenv& get() {
    static const KubeTestenv env = load();
    return env;
  }

  std::string var(const std::string& key) const {
    auto it = vars_.find(key);
    return it == vars_.end() ? "" : it->second;
  }
  const std::string& dir() const { return dir_; }
  std::string url() const { return var("APISERVER_URL"); }
  std::string ca() const { return var("TESTENV_CA"); }

  net::TlsConfig adminTls() const {
    net::TlsConfig t;
    t.caFile = ca();
    t.clientCertFile = var("ADMIN_CERT");
    t.clientKeyFile = var("ADMIN_KEY");
    return t;
  }

  // Runs a hack/testenv script with arguments; returns its stdout, fails the test on error.
  std::string script(const std::string& name, const std::string& args) const {
    std::string cmd = std::string(SCHEDKIT_SOURCE_DIR) + "/hack/testenv/" + name + " " + args;
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) {
      ADD_FAILURE() << "cannot run " << cmd;
      return out;
    }
    std::array<char, 4096> buf;
    while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
    int rc = ::pclose(p);
    EXPECT_EQ(rc, 0) << cmd << " failed: " << out;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

  void restartApiserver() const { script("restart-apiserver.sh", dir_); }
  std::string compactEtcd() const { return script("etcd-compact.sh", "--dir " + dir_); }
  // Mints a kubeconfig (kubeconfig.sh arguments, e.g. "--node node-1") and returns its path.
  std::string kubeconfig(const std::string& args) const {
    return script("kubeconfig.sh", "--dir " + dir_ + " " + args);
  }

 private:
  static KubeTestenv load() {
    KubeTestenv e;
    const char* d = std::getenv("SCHEDKIT_KUBE_TESTENV");
    if (d == nullptr || *d == '\0') {
      ADD_FAILURE() << "SCHEDKIT_KUBE_TESTENV is not set; run these tests through ctest";
      return e;
    }
    e.dir_ = d;
    std::ifstream in(e.dir_ + "/env");
    if (!in) ADD_FAILURE() << "no " << e.dir_ << "/env; did hack/testenv/up.sh run?";
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("export ", 0) != 0) continue;
      line = line.substr(7);
      auto eq = line.find('=');
      if (eq == std::string::npos) continue;
      e.vars_[line.substr(0, eq)] = unquote(line.substr(eq + 1));
    }
    return e;
  }

  // Undoes bash's printf %q for the plain values the env file holds.
  static std::string unquote(const std::string& v) {
    if (v == "''") return "";
    std::string out;
    bool in_single = false;
    for (std::size_t i = 0; i < v.size(); ++i) {
      char c = v[i];
      if (in_single) {
        if (c == '\'') {
          in_single = false;
        } else {
          out += c;
        }
      } else if (c == '\'') {
        in_single = true;
      } else if (c == '\\' && i + 1 < v.size()) {
        out += v[++i];
      } else {
        out += c;
      }
    }
    return out;
  }

  std::string dir_;
  std::map<std::string, std::string> vars_;
};

}  // namespace schedkit::testenv
