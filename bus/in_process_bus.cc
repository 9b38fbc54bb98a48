#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "bus/bus.h"

namespace notifyd::bus {
namespace {

class InProcessBus final : public Bus {
 public:
  void AddListener(Listener listener) override {
    absl::MutexLock lock(&mu_);
    listeners_.push_back(std::move(listener));
  }

  size_t Publish(std::shared_ptr<const storage::Notification> n) override {
    // Listeners are registered before publishing starts, so a copy under the
    // lock is rare; holding it while publishing keeps delivery in order.
    absl::MutexLock lock(&mu_);
    size_t recipients = 0;
    for (const Listener& listener : listeners_) recipients += listener(n);
    return recipients;
  }

 private:
  absl::Mutex mu_;
  std::vector<Listener> listeners_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<Bus> NewInProcessBus() {
  return std::make_unique<InProcessBus>();
}

}  // namespace notifyd::bus
