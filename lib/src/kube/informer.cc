#include "schedkit/kube/informer.h"

namespace schedkit::kube {

Informer::Dispatch Informer::dispatchTo(EventLoop& loop) {
  return [&loop](std::function<void()> fn) { loop.post(std::move(fn)); };
}

Informer::Dispatch Informer::dispatchInline() {
  return [](std::function<void()> fn) { fn(); };
}

Informer::Informer(Client& client, Resource resource, ReflectorOptions opts, Dispatch dispatch)
    : client_(client),
      dispatch_(std::move(dispatch)),
      reflector_(client, std::move(resource), std::move(opts),
                 [this](std::vector<Delta> deltas, bool fromList) {
                   // The closure owns the shared state, so it may outlive the Informer.
                   dispatch_([shared = shared_, deltas = std::move(deltas), fromList] {
                     deliver(*shared, deltas, fromList);
                   });
                 }) {}

Informer::~Informer() { stop(); }

void Informer::addHandlers(Handlers h) {
  std::lock_guard lk(shared_->mu);
  shared_->handlers.push_back(std::move(h));
}

void Informer::deliver(Shared& shared, const std::vector<Delta>& deltas, bool fromList) {
  std::vector<Handlers> handlers;
  {
    std::lock_guard lk(shared.mu);
    for (const auto& d : deltas) {
      std::string key = objectKey(*d.object);
      if (d.type == Delta::Type::kDeleted) {
        shared.cache.erase(key);
      } else {
        shared.cache[key] = d.object;
      }
    }
    handlers = shared.handlers;
  }
  for (const auto& d : deltas) {
    for (const auto& h : handlers) {
      switch (d.type) {
        case Delta::Type::kAdded:
          if (h.onAdd) h.onAdd(*d.object);
          break;
        case Delta::Type::kUpdated:
          if (h.onUpdate) h.onUpdate(*d.old, *d.object);
          break;
        case Delta::Type::kDeleted:
          if (h.onDelete) h.onDelete(*d.object);
          break;
      }
    }
  }
  if (fromList) {
    bool first = !shared.synced.exchange(true);
    // After every list (the first, and re-lists after a 410): the cache is complete again.
    for (const auto& h : handlers) {
      if (h.onSynced) h.onSynced(first);
    }
  }
}

void Informer::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void Informer::run() {
  for (;;) {
    Duration wait = reflector_.step();
    if (reflector_.state() == WatchState::kStopped) return;
    if (wait > Duration::zero() && !client_.sleeper().sleepFor(wait, reflector_.cancelToken())) {
      return;
    }
  }
}

void Informer::stop() {
  reflector_.stop();
  if (thread_.joinable()) thread_.join();
}

ObjectPtr Informer::get(const std::string& key) const {
  std::lock_guard lk(shared_->mu);
  auto it = shared_->cache.find(key);
  return it == shared_->cache.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Informer::list() const {
  std::lock_guard lk(shared_->mu);
  std::vector<ObjectPtr> out;
  out.reserve(shared_->cache.size());
  for (const auto& [k, v] : shared_->cache) out.push_back(v);
  return out;
}

std::size_t Informer::size() const {
  std::lock_guard lk(shared_->mu);
  return shared_->cache.size();
}

}  // namespace schedkit::kube
