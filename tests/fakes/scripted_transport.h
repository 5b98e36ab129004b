#pragma once

// A scripted net::HttpTransport: each expected request (method, path, query, body, headers) is
// checked in order and answered with a scripted response, or, for stream(), with scripted body
// chunks (watch events) and an optional failure afterwards. Nothing touches the network.
//
//   ScriptedTransport t;
//   t.expect("GET", "/api/v1/nodes").query({{"limit", "500"}}).replyJson(200, list);
//   t.expect("GET", "/api/v1/nodes").query({{"watch", "1"}, ...}).chunks({watchLine(...)});

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "schedkit/net/http.h"

namespace schedkit {

class ScriptedTransport final : public net::HttpTransport {
 public:
  struct Step {
    std::string method;
    std::string path;
    std::optional<std::map<std::string, std::string>> query;  // exact, decoded
    std::optional<nlohmann::json> jsonBody;
    std::optional<std::string> textBody;
    std::map<std::string, std::string> headers;  // must be present with these values
    // The answer.
    int status = 200;
    net::Headers replyHeaders;
    std::string replyBody;
    std::vector<std::string> replyChunks;  // stream(): pieces of body, in order
    Status error;                          // a transport failure instead of any response
    Status errorAfterChunks;               // stream(): the connection drops after the chunks
    std::function<void(const net::HttpRequest&)> onArrive;  // runs before the reply

    Step& withQuery(std::map<std::string, std::string> q) {
      query = std::move(q);
      return *this;
    }
    Step& withJsonBody(nlohmann::json b) {
      jsonBody = std::move(b);
      return *this;
    }
    Step& withBody(std::string b) {
      textBody = std::move(b);
      return *this;
    }
    Step& withHeader(std::string name, std::string value) {
      headers[std::move(name)] = std::move(value);
      return *this;
    }
    Step& reply(int s, std::string body = {}) {
      status = s;
      replyBody = std::move(body);
      return *this;
    }
    Step& replyJson(int s, const nlohmann::json& body) {
      replyHeaders.set("Content-Type", "application/json");
      return reply(s, body.dump());
    }
    // A metav1.Status error body, as the API server sends.
    Step& replyStatus(int code, std::string reason, std::string message = {}) {
      return replyJson(code, {{"kind", "Status"},
                              {"apiVersion", "v1"},
                              {"status", "Failure"},
                              {"code", code},
                              {"reason", std::move(reason)},
                              {"message", std::move(message)}});
    }
    Step& replyHeader(std::string name, std::string value) {
      replyHeaders.add(name, std::move(value));
      return *this;
    }
    Step& chunks(std::vector<std::string> c) {
      replyChunks = std::move(c);
      return *this;
    }
    Step& fail(Status s) {
      error = std::move(s);
      return *this;
    }
    Step& dropAfterChunks(Status s) {
      errorAfterChunks = std::move(s);
      return *this;
    }
    Step& then(std::function<void(const net::HttpRequest&)> fn) {
      onArrive = std::move(fn);
      return *this;
    }
  };

  // Adds an expected request at the end of the script and returns it for configuration.
  Step& expect(std::string method, std::string path) {
    std::lock_guard lk(mu_);
    steps_.push_back(Step{});
    steps_.back().method = std::move(method);
    steps_.back().path = std::move(path);
    return steps_.back();
  }

  Result<net::HttpResponse> send(const net::HttpRequest& req) override {
    auto step = next(req);
    if (!step) return unavailable("scripted transport: unexpected request " + describe(req));
    if (step->onArrive) step->onArrive(req);
    if (!step->error.isOk()) return step->error;
    net::HttpResponse resp;
    resp.status = step->status;
    resp.headers = step->replyHeaders;
    resp.body = step->replyBody;
    for (const auto& c : step->replyChunks) resp.body += c;
    return resp;
  }

  Status stream(const net::HttpRequest& req,
                const std::function<bool(const net::HttpResponse&)>& onHead,
                const std::function<bool(std::string_view)>& onData) override {
    auto step = next(req);
    if (!step) return unavailable("scripted transport: unexpected request " + describe(req));
    if (step->onArrive) step->onArrive(req);
    if (!step->error.isOk()) return step->error;
    net::HttpResponse head;
    head.status = step->status;
    head.headers = step->replyHeaders;
    if (!onHead(head)) return Status::ok();
    std::vector<std::string> pieces = step->replyChunks;
    if (!step->replyBody.empty()) pieces.insert(pieces.begin(), step->replyBody);
    for (const auto& p : pieces) {
      if (req.cancel && req.cancel->cancelled()) return cancelled("scripted: cancelled");
      if (!onData(p)) return Status::ok();
    }
    if (req.cancel && req.cancel->cancelled()) return cancelled("scripted: cancelled");
    return step->errorAfterChunks;
  }

  std::vector<net::HttpRequest> requests() const {
    std::lock_guard lk(mu_);
    return seen_;
  }
  std::size_t remaining() const {
    std::lock_guard lk(mu_);
    return steps_.size();
  }
  // Every scripted step was used.
  void expectDone() const {
    std::lock_guard lk(mu_);
    EXPECT_TRUE(steps_.empty()) << steps_.size() << " scripted request(s) never came, next: "
                                << (steps_.empty()
                                        ? ""
                                        : steps_.front().method + " " + steps_.front().path);
  }

  // One line of a watch stream.
  static std::string watchLine(const std::string& type, const nlohmann::json& object) {
    return nlohmann::json{{"type", type}, {"object", object}}.dump() + "\n";
  }

  static std::map<std::string, std::string> parseQuery(const std::string& q) {
    std::map<std::string, std::string> out;
    std::size_t i = 0;
    while (i < q.size()) {
      std::size_t amp = q.find('&', i);
      if (amp == std::string::npos) amp = q.size();
      std::string kv = q.substr(i, amp - i);
      std::size_t eq = kv.find('=');
      out[decode(kv.substr(0, eq))] = eq == std::string::npos ? "" : decode(kv.substr(eq + 1));
      i = amp + 1;
    }
    return out;
  }

 private:
  static std::string decode(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += s[i] == '+' ? ' ' : s[i];
      }
    }
    return out;
  }

  static std::string describe(const net::HttpRequest& req) {
    return req.method + " " + req.url + (req.body.empty() ? "" : " body=" + req.body);
  }

  // Pops the next step and checks the request against it (test failures on mismatch).
  std::optional<Step> next(const net::HttpRequest& req) {
    std::lock_guard lk(mu_);
    seen_.push_back(req);
    if (steps_.empty()) {
      ADD_FAILURE() << "unscripted request: " << describe(req);
      return std::nullopt;
    }
    Step step = std::move(steps_.front());
    steps_.pop_front();
    auto url = net::parseUrl(req.url);
    if (!url.isOk()) {
      ADD_FAILURE() << "bad URL " << req.url;
      return std::nullopt;
    }
    EXPECT_EQ(req.method, step.method) << describe(req);
    EXPECT_EQ(url->path, step.path) << describe(req);
    if (step.query) {
      EXPECT_EQ(parseQuery(url->query), *step.query) << describe(req);
    }
    if (step.jsonBody) {
      auto got = nlohmann::json::parse(req.body, nullptr, false);
      EXPECT_EQ(got, *step.jsonBody) << describe(req);
    }
    if (step.textBody) {
      EXPECT_EQ(req.body, *step.textBody) << describe(req);
    }
    for (const auto& [name, value] : step.headers) {
      EXPECT_EQ(req.headers.get(name).value_or("<missing>"), value)
          << "header " << name << " of " << describe(req);
    }
    return step;
  }

  mutable std::mutex mu_;
  std::deque<Step> steps_;
  std::vector<net::HttpRequest> seen_;
};

}  // namespace schedkit
