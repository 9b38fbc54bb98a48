// The notification bus: carries each committed notification to the live
// subscribers of every notifyd instance. The seam between publishing and
// the SSE edge: in-process for one instance, Redis for several sharing
// one store (docs/DESIGN.md, Several instances).
//
// Thread-safe. Publish never blocks on subscribers: listeners only queue.
// Callers publish in commit (id) order from one thread at a time per store,
// and a bus delivers to each listener in the order it was published.
#ifndef NOTIFYD_BUS_BUS_H_
#define NOTIFYD_BUS_BUS_H_

#include <cstddef>
#include <functional>
#include <memory>

#include "storage/notification.h"

namespace notifyd::bus {

class Bus {
 public:
  // Returns how many live streams the notification was queued to.
  using Listener = std::function<size_t(
      const std::shared_ptr<const storage::Notification>&)>;

  virtual ~Bus() = default;

  // Registers a listener for every notification published from now on.
  // Call before the first Publish; listeners live as long as the bus.
  virtual void AddListener(Listener listener) = 0;

  // Delivers to every listener; returns the sum of their recipient counts
  // on this instance.
  virtual size_t Publish(std::shared_ptr<const storage::Notification> n) = 0;
};

// The zero-setup bus: listeners of this process only.
std::unique_ptr<Bus> NewInProcessBus();

}  // namespace notifyd::bus

#endif  // NOTIFYD_BUS_BUS_H_
