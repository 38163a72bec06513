// A controller work queue as client-go's: keys are deduplicated while they wait, a key is never
// processed by two workers at once (a key added while it is processed is processed again after),
// and failed keys come back after a per-key exponential backoff (1 s doubling to 60 s).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace updraft::kube {

class WorkQueue {
 public:
  using Steady = std::chrono::steady_clock;
  // `process` returns false to retry the key after a backoff.
  explicit WorkQueue(std::function<bool(const std::string&)> process)
      : process_(std::move(process)) {}
  ~WorkQueue() { stop(); }

  void start(size_t workers) {
    for (size_t i = 0; i < workers; ++i) threads_.emplace_back([this] { run(); });
  }
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  void add(const std::string& key) {
    std::lock_guard lock(mutex_);
    if (processing_.count(key)) {
      again_.insert(key);
      return;
    }
    if (queued_.insert(key).second) {
      ready_.push_back(key);
      cv_.notify_one();
    }
  }
  void addAfter(const std::string& key, std::chrono::milliseconds delay) {
    std::lock_guard lock(mutex_);
    delayed_.emplace(Steady::now() + delay, key);
    cv_.notify_one();
  }
  // Nothing waiting, delayed or in progress.
  bool idle() const {
    std::lock_guard lock(mutex_);
    return ready_.empty() && processing_.empty() && delayed_.empty();
  }
  size_t depth() const {
    std::lock_guard lock(mutex_);
    return ready_.size() + delayed_.size();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      const auto now = Steady::now();
      while (!delayed_.empty() && delayed_.begin()->first <= now) {
        std::string key = delayed_.begin()->second;
        delayed_.erase(delayed_.begin());
        if (processing_.count(key)) {
          again_.insert(key);
        } else if (queued_.insert(key).second) {
          ready_.push_back(key);
        }
      }
      if (ready_.empty()) {
        if (delayed_.empty()) {
          cv_.wait(lock);
        } else {
          // A copy: the node may be erased by another worker while this one waits.
          const Steady::time_point until = delayed_.begin()->first;
          cv_.wait_until(lock, until);
        }
        continue;
      }
      std::string key = std::move(ready_.front());
      ready_.pop_front();
      queued_.erase(key);
      processing_.insert(key);
      lock.unlock();
      const bool ok = process_(key);
      lock.lock();
      processing_.erase(key);
      if (ok) {
        failures_.erase(key);
      } else {
        int n = ++failures_[key];
        auto delay = std::chrono::milliseconds(1000) * (1 << std::min(n - 1, 6));
        delayed_.emplace(Steady::now() + std::min(delay, std::chrono::milliseconds(60000)), key);
      }
      if (again_.erase(key) && queued_.insert(key).second) ready_.push_back(key);
      cv_.notify_all();
    }
  }

  std::function<bool(const std::string&)> process_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> ready_;
  std::set<std::string> queued_;
  std::set<std::string> processing_;
  std::set<std::string> again_;
  std::multimap<Steady::time_point, std::string> delayed_;
  std::map<std::string, int> failures_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace updraft::kube
