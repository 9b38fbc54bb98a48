// `notifyctl tail`: follows a user's SSE stream in the terminal, printing
// one line per event and reconnecting with the last id it saw, so nothing
// is missed across drops. Runs until interrupted or a 4xx answer.
#ifndef NOTIFYD_TOOLS_SSE_TAIL_H_
#define NOTIFYD_TOOLS_SSE_TAIL_H_

#include <cstdint>
#include <string>
#include <vector>

namespace notifyd::tools {

struct TailOptions {
  std::string http;     // host:port of notifyd's HTTP listener
  std::string user_id;  // used as ?user= when no token is given
  std::string token;    // subscriber token, sent as Authorization: Bearer
  std::vector<std::string> channels;
  uint64_t last_event_id = 0;  // 0: live only
  bool json = false;
  // HTTPS: verify the server against this PEM CA file ("" with `tls`: the
  // system's roots).
  bool tls = false;
  std::string tls_ca;
};

// Returns the process exit code.
int Tail(const TailOptions& options);

}  // namespace notifyd::tools

#endif  // NOTIFYD_TOOLS_SSE_TAIL_H_
