#include "watch.h"

#include <poll.h>

#include <algorithm>

namespace updraft::kubetest {

const char* eventTypeName(EventType type) {
  switch (type) {
    case EventType::Added:
      return "ADDED";
    case EventType::Modified:
      return "MODIFIED";
    case EventType::Deleted:
      return "DELETED";
  }
  return "";
}

Watcher::Watcher(WatchFilter filter, std::string apiVersion, std::string kind, uint64_t startRV)
    : filter_(std::move(filter)),
      apiVersion_(std::move(apiVersion)),
      kind_(std::move(kind)),
      lastSeenRV_(startRV) {}

bool Watcher::passes(const json& object) const {
  if (!object.is_object()) return false;
  const json* labels = jsonAtPath(object, "metadata.labels");
  return filter_.labels.matches(labels ? *labels : json()) && filter_.fields.matches(object);
}

std::string Watcher::line(const char* type, const json& object) const {
  json o = object;
  if (o.is_object() && o.contains("apiVersion")) o["apiVersion"] = apiVersion_;
  json event = {{"type", type}, {"object", std::move(o)}};
  return dumpJson(event) + "\n";
}

void Watcher::offer(const Event& event) {
  std::string text;
  if (event.storageKey == filter_.storageKey && (filter_.ns.empty() || filter_.ns == event.ns)) {
    bool now = passes(event.object);
    bool before = !event.old.is_null() && passes(event.old);
    if (event.type == EventType::Added && now) {
      text = line("ADDED", event.object);
    } else if (event.type == EventType::Deleted && now) {
      text = line("DELETED", event.object);
    } else if (event.type == EventType::Modified) {
      if (now && before) {
        text = line("MODIFIED", event.object);
      } else if (now) {
        text = line("ADDED", event.object);
      } else if (before) {
        json gone = event.old;
        gone["metadata"]["resourceVersion"] = std::to_string(event.rv);
        text = line("DELETED", gone);
      }
    }
  }
  std::lock_guard lock(mu_);
  lastSeenRV_ = std::max(lastSeenRV_, event.rv);
  if (!text.empty() && !closed_) {
    lines_.push_back(std::move(text));
    cv_.notify_all();
  }
}

void Watcher::pushLine(std::string line) {
  std::lock_guard lock(mu_);
  lines_.push_back(std::move(line));
  cv_.notify_all();
}

void Watcher::close(bool abort) {
  std::lock_guard lock(mu_);
  closed_ = true;
  aborted_ = aborted_ || abort;
  cv_.notify_all();
}

std::vector<std::string> Watcher::take(std::chrono::steady_clock::time_point until) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, until, [&] { return !lines_.empty() || closed_; });
  std::vector<std::string> out(std::make_move_iterator(lines_.begin()),
                               std::make_move_iterator(lines_.end()));
  lines_.clear();
  return out;
}

bool Watcher::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

bool Watcher::aborted() const {
  std::lock_guard lock(mu_);
  return aborted_;
}

uint64_t Watcher::rvIfIdle() const {
  std::lock_guard lock(mu_);
  return lines_.empty() ? lastSeenRV_ : 0;
}

void WatchHub::add(std::shared_ptr<Watcher> watcher) {
  std::lock_guard lock(mu_);
  watchers_.push_back(std::move(watcher));
}

void WatchHub::remove(const Watcher* watcher) {
  std::lock_guard lock(mu_);
  watchers_.erase(std::remove_if(watchers_.begin(), watchers_.end(),
                                 [&](const auto& w) { return w.get() == watcher; }),
                  watchers_.end());
}

void WatchHub::publish(const Event& event) {
  std::lock_guard lock(mu_);
  for (const auto& w : watchers_) w->offer(event);
}

void WatchHub::closeAll(bool abort) {
  std::lock_guard lock(mu_);
  for (const auto& w : watchers_) w->close(abort);
}

size_t WatchHub::size() const {
  std::lock_guard lock(mu_);
  return watchers_.size();
}

namespace {

// True when the peer has closed its end (FIN or error); data it sent is left unread.
bool peerClosed(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

}  // namespace

void streamWatch(httplib::Response& res, std::shared_ptr<Watcher> watcher, WatchHub& hub,
                 WatchStreamOptions options) {
  res.status = 200;
  res.set_header("Cache-Control", "no-cache, private");
  res.set_chunked_content_provider(
      "application/json",
      [watcher, options](size_t, httplib::DataSink& sink) {
        using Clock = std::chrono::steady_clock;
        auto nextBookmark = Clock::now() + options.bookmarkInterval;
        // Writes a bookmark unless events are still queued (they go first); false on a write
        // error.
        auto bookmark = [&](bool& sent) {
          sent = false;
          uint64_t rv = watcher->rvIfIdle();
          if (rv == 0) return true;
          json object = {{"kind", watcher->kind()},
                         {"apiVersion", watcher->apiVersion()},
                         {"metadata", {{"resourceVersion", std::to_string(rv)}}}};
          std::string text = json({{"type", "BOOKMARK"}, {"object", object}}).dump() + "\n";
          sent = true;
          return sink.write(text.data(), text.size());
        };
        bool sent = false;
        while (true) {
          auto now = Clock::now();
          if (now >= options.deadline) {
            for (const auto& l : watcher->take(now)) {
              if (!sink.write(l.data(), l.size())) return false;
            }
            if (options.bookmarks && !bookmark(sent)) return false;
            sink.done();
            return true;
          }
          auto until = std::min({options.deadline, now + std::chrono::milliseconds(250),
                                 options.bookmarks ? nextBookmark : options.deadline});
          auto lines = watcher->take(until);
          for (const auto& l : lines) {
            if (!sink.write(l.data(), l.size())) return false;
          }
          if (watcher->closed() && lines.empty()) {
            if (watcher->aborted()) return false;
            sink.done();
            return true;
          }
          if (lines.empty() && peerClosed(options.socketFd)) return false;
          if (options.bookmarks && Clock::now() >= nextBookmark) {
            if (!bookmark(sent)) return false;
            if (sent) nextBookmark = Clock::now() + options.bookmarkInterval;
          }
        }
      },
      [watcher, &hub](bool) { hub.remove(watcher.get()); });
}

}  // namespace updraft::kubetest
