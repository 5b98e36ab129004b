// The one file that includes cpprestsdk (CONVENTIONS habit 7). cpprest is archived upstream, so
// everything it offers is reached through net::HttpTransport and could be swapped for libcurl
// here alone. No cpprest or boost exception leaves this file: every call is wrapped and mapped to
// a Status.

// cpprest's U() macro breaks GoogleTest and others; keep it out of everything.
#define _TURN_OFF_PLATFORM_STRING

#include <cpprest/astreambuf.h>
#include <cpprest/http_client.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <system_error>
#include <unordered_map>

#include "schedkit/net/http.h"

namespace schedkit::net {
namespace {

using web::http::client::http_client;
using web::http::client::http_client_config;

constexpr int kMaxRedirects = 10;
constexpr std::size_t kMaxCachedClients = 32;
constexpr int kMaxResends = 3;  // of requests that never left (stale pooled connections)

// --- TLS ---------------------------------------------------------------------------------------

std::string opensslError(std::string_view what) {
  std::string msg(what);
  unsigned long e = ERR_get_error();
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    msg += ": ";
    msg += buf;
  }
  ERR_clear_error();
  return msg;
}

Result<std::string> readPem(const std::string& inline_pem, const std::string& file,
                            std::string_view what) {
  if (!inline_pem.empty()) return inline_pem;
  std::ifstream in(file, std::ios::binary);
  if (!in) return unavailable("reading " + std::string(what) + " " + file + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty()) return invalidArgument(std::string(what) + " " + file + " is empty");
  return ss.str();
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr memBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Trust exactly the configured CA bundle (not the system roots), present the client
// certificate chain and key, and refuse anything older than TLS 1.2.
Status applyTls(SSL_CTX* ctx, const TlsConfig& tls) {
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (!tls.caPem.empty() || !tls.caFile.empty()) {
    SK_ASSIGN_OR_RETURN(std::string pem, readPem(tls.caPem, tls.caFile, "CA bundle"));
    X509_STORE* store = X509_STORE_new();
    BioPtr bio = memBio(pem);
    int n = 0;
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, cert);
      X509_free(cert);
      ++n;
    }
    ERR_clear_error();  // the loop ends on a "no start line" error
    if (n == 0) {
      X509_STORE_free(store);
      return invalidArgument("CA bundle " + (tls.caFile.empty() ? "(inline)" : tls.caFile) +
                             " holds no PEM certificate");
    }
    SSL_CTX_set_cert_store(ctx, store);  // takes ownership, frees the default store
  }
  bool has_cert = !tls.clientCertPem.empty() || !tls.clientCertFile.empty();
  bool has_key = !tls.clientKeyPem.empty() || !tls.clientKeyFile.empty();
  if (has_cert != has_key) {
    return invalidArgument("a client certificate needs a key and a key needs a certificate");
  }
  if (has_cert) {
    SK_ASSIGN_OR_RETURN(std::string cert_pem,
                        readPem(tls.clientCertPem, tls.clientCertFile, "client certificate"));
    SK_ASSIGN_OR_RETURN(std::string key_pem,
                        readPem(tls.clientKeyPem, tls.clientKeyFile, "client key"));
    BioPtr cbio = memBio(cert_pem);
    X509* leaf = PEM_read_bio_X509(cbio.get(), nullptr, nullptr, nullptr);
    if (leaf == nullptr) return invalidArgument(opensslError("client certificate is not PEM"));
    int ok = SSL_CTX_use_certificate(ctx, leaf);
    X509_free(leaf);
    if (ok != 1) return invalidArgument(opensslError("using the client certificate"));
    SSL_CTX_clear_chain_certs(ctx);
    while (X509* extra = PEM_read_bio_X509(cbio.get(), nullptr, nullptr, nullptr)) {
      SSL_CTX_add0_chain_cert(ctx, extra);  // takes ownership
    }
    ERR_clear_error();
    BioPtr kbio = memBio(key_pem);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr);
    if (key == nullptr) return invalidArgument(opensslError("client key is not PEM"));
    ok = SSL_CTX_use_PrivateKey(ctx, key);
    EVP_PKEY_free(key);
    if (ok != 1) return invalidArgument(opensslError("using the client key"));
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return invalidArgument(opensslError("client key does not match the certificate"));
    }
  }
  return Status::ok();
}

Status checkTls(const TlsConfig& tls) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return internalError(opensslError("SSL_CTX_new"));
  Status s = applyTls(ctx, tls);
  SSL_CTX_free(ctx);
  return s;
}

// --- Streaming the body ------------------------------------------------------------------------

// One piece of body handed from cpprest's thread to the caller's. The producer waits on `done`
// before reading more off the socket, which is the backpressure.
struct Piece {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  std::string owned;  // when cpprest asked for a copy
  pplx::task_completion_event<std::size_t> done;
};

// State shared by the calling thread and cpprest's threads for one request.
struct Exchange {
  std::mutex mu;
  std::condition_variable cv;
  bool head = false;
  HttpResponse response;  // status and headers
  bool ended = false;
  std::exception_ptr error;
  std::deque<std::shared_ptr<Piece>> pieces;
  bool closed = false;     // the caller left: refuse further body
  bool cancelled = false;  // the CancelToken fired
};

class ConsumerGone : public std::runtime_error {
 public:
  ConsumerGone() : std::runtime_error("response body no longer wanted") {}
};

// A write-only cpprest stream buffer that hands every write to the waiting caller.
class ChunkSink final
    : public concurrency::streams::details::streambuf_state_manager<std::uint8_t> {
  using Base = concurrency::streams::details::streambuf_state_manager<std::uint8_t>;

 public:
  explicit ChunkSink(std::shared_ptr<Exchange> ex) : Base(std::ios_base::out), ex_(std::move(ex)) {}

  bool can_seek() const override { return false; }
  bool has_size() const override { return false; }
  std::size_t buffer_size(std::ios_base::openmode) const override { return 0; }
  void set_buffer_size(std::size_t, std::ios_base::openmode) override {}
  std::size_t in_avail() const override { return 0; }
  pos_type getpos(std::ios_base::openmode) const override { return pos_type(-1); }
  pos_type seekpos(pos_type, std::ios_base::openmode) override { return pos_type(-1); }
  pos_type seekoff(off_type, std::ios_base::seekdir, std::ios_base::openmode) override {
    return pos_type(-1);
  }
  bool acquire(std::uint8_t*& ptr, std::size_t& count) override {
    ptr = nullptr;
    count = 0;
    return false;
  }
  void release(std::uint8_t*, std::size_t) override {}

 protected:
  pplx::task<int_type> _putc(std::uint8_t ch) override {
    return offer(&ch, 1, true).then([ch](std::size_t) { return static_cast<int_type>(ch); });
  }
  pplx::task<std::size_t> _putn(const std::uint8_t* ptr, std::size_t count, bool copy) override {
    return offer(ptr, count, copy);
  }
  pplx::task<std::size_t> _putn(const std::uint8_t* ptr, std::size_t count) override {
    return offer(ptr, count, false);
  }
  pplx::task<int_type> _bumpc() override { return pplx::task_from_result(traits::eof()); }
  int_type _sbumpc() override { return traits::eof(); }
  pplx::task<int_type> _getc() override { return pplx::task_from_result(traits::eof()); }
  int_type _sgetc() override { return traits::eof(); }
  pplx::task<int_type> _nextc() override { return pplx::task_from_result(traits::eof()); }
  pplx::task<int_type> _ungetc() override { return pplx::task_from_result(traits::eof()); }
  pplx::task<std::size_t> _getn(std::uint8_t*, std::size_t) override {
    return pplx::task_from_result<std::size_t>(0);
  }
  std::size_t _scopy(std::uint8_t*, std::size_t) override { return 0; }
  pplx::task<bool> _sync() override { return pplx::task_from_result(true); }
  std::uint8_t* _alloc(std::size_t) override { return nullptr; }
  void _commit(std::size_t) override {}

 private:
  pplx::task<std::size_t> offer(const std::uint8_t* ptr, std::size_t count, bool copy) {
    auto piece = std::make_shared<Piece>();
    if (copy) {
      piece->owned.assign(reinterpret_cast<const char*>(ptr), count);
      piece->data = reinterpret_cast<const std::uint8_t*>(piece->owned.data());
    } else {
      piece->data = ptr;  // putn_nocopy: cpprest keeps it alive until `done`
    }
    piece->size = count;
    {
      std::lock_guard lk(ex_->mu);
      if (ex_->closed) {
        return pplx::task_from_exception<std::size_t>(std::make_exception_ptr(ConsumerGone()));
      }
      ex_->pieces.push_back(piece);
    }
    ex_->cv.notify_all();
    return pplx::create_task(piece->done);
  }

  std::shared_ptr<Exchange> ex_;
};

// --- Errors ------------------------------------------------------------------------------------

Status mapException(std::exception_ptr e, const std::string& what) {
  try {
    std::rethrow_exception(e);
  } catch (const web::http::http_exception& ex) {
    std::string msg = what + ": " + ex.what();
    if (ex.error_code() == std::errc::timed_out) return deadlineExceeded(msg);
    if (ex.error_code() == std::errc::operation_canceled) return cancelled(msg);
    return unavailable(msg);
  } catch (const pplx::task_canceled&) {
    return cancelled(what + ": cancelled");
  } catch (const ConsumerGone&) {
    return cancelled(what + ": cancelled");
  } catch (const web::uri_exception& ex) {
    return invalidArgument(what + ": bad URI: " + ex.what());
  } catch (const std::exception& ex) {
    return unavailable(what + ": " + ex.what());
  } catch (...) {
    return unavailable(what + ": unknown error");
  }
}

// cpprest reports a request it could not finish writing (typically on a pooled keep-alive
// connection the server closed, e.g. after a restart) with these words. Such a request never
// reached the server complete, so sending it again on a fresh connection is safe for any method.
bool neverSent(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const web::http::http_exception& ex) {
    return std::string_view(ex.what()).rfind("Failed to write request", 0) == 0;
  } catch (...) {
    return false;
  }
}

bool isRedirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// --- The transport -----------------------------------------------------------------------------

using Deadline = std::optional<std::chrono::steady_clock::time_point>;

class CpprestTransport final : public HttpTransport {
 public:
  explicit CpprestTransport(TlsConfig tls) : tls_(std::move(tls)) {}

  Result<HttpResponse> send(const HttpRequest& req) override {
    HttpResponse out;
    // The whole exchange, head and body, must fit in req.timeout.
    Deadline deadline = std::chrono::steady_clock::now() + req.timeout;
    Status s = perform(
        req,
        [&](const HttpResponse& head) {
          out.status = head.status;
          out.headers = head.headers;
          return true;
        },
        [&](std::string_view chunk) {
          out.body.append(chunk);
          return true;
        },
        deadline);
    if (!s.isOk()) return s;
    return out;
  }

  Status stream(const HttpRequest& req, const std::function<bool(const HttpResponse&)>& onHead,
                const std::function<bool(std::string_view)>& onData) override {
    return perform(req, onHead, onData, std::nullopt);
  }

 private:
  Status perform(const HttpRequest& original,
                 const std::function<bool(const HttpResponse&)>& onHead,
                 const std::function<bool(std::string_view)>& onData, Deadline deadline) {
    HttpRequest req = original;
    SK_ASSIGN_OR_RETURN(Url first, parseUrl(req.url));
    for (int hop = 0;; ++hop) {
      SK_ASSIGN_OR_RETURN(Url url, parseUrl(req.url));
      std::optional<HttpRequest> next;
      auto head_filter = [&](const HttpResponse& head) {
        if (req.followRedirects && isRedirect(head.status)) {
          if (auto loc = head.headers.get("location")) {
            next = redirected(req, head.status, *loc, first);
            return false;
          }
        }
        return onHead(head);
      };
      bool unsent = false;
      Status s = exchange(req, url, head_filter, onData, deadline, &unsent);
      for (int again = 0; unsent && again < kMaxResends; ++again) {
        unsent = false;
        s = exchange(req, url, head_filter, onData, deadline, &unsent);
      }
      if (!next) return s;
      if (hop + 1 >= kMaxRedirects) {
        return unavailable(original.method + " " + original.url + ": more than " +
                           std::to_string(kMaxRedirects) + " redirects");
      }
      req = std::move(*next);
    }
  }

  static HttpRequest redirected(const HttpRequest& req, int status, const std::string& location,
                                const Url& first) {
    HttpRequest next = req;
    next.url = resolveUrl(req.url, location);
    // 303 always, and 301/302 after a POST, turn into a GET without a body.
    if (status == 303 || ((status == 301 || status == 302) && req.method == "POST")) {
      next.method = "GET";
      next.body.clear();
      next.headers.remove("content-type");
      next.headers.remove("content-length");
    }
    // Credentials stay with the origin they were meant for (registries redirect blob
    // downloads to object storage, which must not see the registry token).
    auto u = parseUrl(next.url);
    if (!u.isOk() || u->origin() != first.origin()) next.headers.remove("authorization");
    return next;
  }

  std::shared_ptr<http_client> clientFor(const Url& url, Duration timeout) {
    std::string key = url.origin() + "|" + std::to_string(timeout.count());
    std::lock_guard lk(mu_);
    auto it = clients_.find(key);
    if (it != clients_.end()) return it->second;
    if (clients_.size() >= kMaxCachedClients) clients_.clear();
    http_client_config cfg;
    cfg.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
    cfg.set_max_redirects(0);  // redirects are followed above, or by the caller
    cfg.set_validate_certificates(!tls_.insecureSkipVerify);
    cfg.set_request_compressed_response(false);
    TlsConfig tls = tls_;
    // Runs for every new connection, so rotated certificate files are picked up.
    cfg.set_ssl_context_callback([tls](boost::asio::ssl::context& ctx) {
      Status s = applyTls(ctx.native_handle(), tls);
      if (!s.isOk()) throw std::runtime_error("TLS setup: " + s.message());
    });
    std::string h = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    auto client = std::make_shared<http_client>(
        web::uri(url.scheme + "://" + h + ":" + std::to_string(url.port)), cfg);
    clients_.emplace(key, client);
    return client;
  }

  Status exchange(const HttpRequest& req, const Url& url,
                  const std::function<bool(const HttpResponse&)>& onHead,
                  const std::function<bool(std::string_view)>& onData, Deadline deadline,
                  bool* unsent) {
    const std::string what = req.method + " " + req.url;
    auto ex = std::make_shared<Exchange>();
    pplx::cancellation_token_source cts;
    std::uint64_t cancel_id = 0;
    if (req.cancel) {
      cancel_id = req.cancel->onCancel([ex, cts] {
        {
          std::lock_guard lk(ex->mu);
          ex->cancelled = true;
        }
        cts.cancel();
        ex->cv.notify_all();
      });
    }
    struct Unregister {
      const CancelTokenPtr& token;
      std::uint64_t id;
      ~Unregister() {
        if (token && id != 0) token->removeCallback(id);
      }
    } unregister{req.cancel, cancel_id};

    try {
      web::http::http_request r(req.method);
      r.set_request_uri(web::uri(url.target()));
      for (const auto& [name, value] : req.headers.all()) r.headers().add(name, value);
      if (!req.body.empty()) {
        r.set_body(std::vector<unsigned char>(req.body.begin(), req.body.end()));
      }
      if (!tls_.serverName.empty() && url.scheme == "https" && !req.headers.get("host")) {
        // cpprest takes SNI and the verified name from Host.
        r.headers().add("Host", tls_.serverName);
      }
      concurrency::streams::streambuf<std::uint8_t> sink(std::make_shared<ChunkSink>(ex));
      r.set_response_stream(sink.create_ostream());
      auto client = clientFor(url, req.timeout);
      client->request(r, cts.get_token()).then([ex](pplx::task<web::http::http_response> t) {
        try {
          web::http::http_response resp = t.get();
          {
            std::lock_guard lk(ex->mu);
            ex->head = true;
            ex->response.status = resp.status_code();
            for (const auto& [name, value] : resp.headers()) ex->response.headers.add(name, value);
          }
          ex->cv.notify_all();
          resp.content_ready().then([ex](pplx::task<web::http::http_response> done) {
            std::exception_ptr err;
            try {
              done.get();
            } catch (...) {
              err = std::current_exception();
            }
            {
              std::lock_guard lk(ex->mu);
              ex->ended = true;
              ex->error = err;
            }
            ex->cv.notify_all();
          });
        } catch (...) {
          {
            std::lock_guard lk(ex->mu);
            ex->ended = true;
            ex->error = std::current_exception();
          }
          ex->cv.notify_all();
        }
      });
    } catch (...) {
      return mapException(std::current_exception(), what);
    }

    Status result = Status::ok();
    bool head_delivered = false;
    std::unique_lock lk(ex->mu);
    for (;;) {
      auto ready = [&] {
        return ex->cancelled || (ex->head && !head_delivered) ||
               (head_delivered && !ex->pieces.empty()) || ex->ended;
      };
      if (deadline) {
        if (!ex->cv.wait_until(lk, *deadline, ready)) {
          result = deadlineExceeded(
              what + ": no complete response within " +
              std::to_string(
                  std::chrono::duration_cast<std::chrono::milliseconds>(req.timeout).count()) +
              " ms");
          break;
        }
      } else {
        ex->cv.wait(lk, ready);
      }
      if (ex->cancelled) {
        result = cancelled(what + ": cancelled");
        break;
      }
      if (ex->head && !head_delivered) {
        head_delivered = true;
        HttpResponse head = ex->response;
        lk.unlock();
        bool go = onHead(head);
        lk.lock();
        if (!go) break;
        continue;
      }
      if (head_delivered && !ex->pieces.empty()) {
        std::shared_ptr<Piece> piece = ex->pieces.front();
        ex->pieces.pop_front();
        lk.unlock();
        bool go = onData(std::string_view(reinterpret_cast<const char*>(piece->data), piece->size));
        piece->done.set(piece->size);
        lk.lock();
        if (!go) break;
        continue;
      }
      if (ex->ended) {
        if (ex->error) {
          result = mapException(ex->error, what);
          *unsent = !head_delivered && neverSent(ex->error);
        }
        break;
      }
    }
    // Leave: refuse further body and release whatever cpprest is waiting on.
    bool ended = ex->ended;
    ex->closed = true;
    std::deque<std::shared_ptr<Piece>> left;
    left.swap(ex->pieces);
    lk.unlock();
    for (auto& p : left) p->done.set_exception(std::make_exception_ptr(ConsumerGone()));
    if (!ended) cts.cancel();
    return result;
  }

  TlsConfig tls_;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<http_client>> clients_;
};

}  // namespace

Result<HttpTransportPtr> makeCpprestTransport(const TlsConfig& tls) {
  Status s = checkTls(tls);
  if (!s.isOk()) return s.withContext("TLS configuration");
  return HttpTransportPtr(std::make_unique<CpprestTransport>(tls));
}

}  // namespace schedkit::net
