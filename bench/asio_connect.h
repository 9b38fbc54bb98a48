// How the bench's SSE clients (sse_stream_client.h, inbox_bench.cc) open a
// connection: from a chosen loopback source address, so that one process
// spreads its streams over 127.0.0.0/8 and past the ~28,000 ephemeral
// ports one address has towards one server.
#ifndef NOTIFYD_BENCH_ASIO_CONNECT_H_
#define NOTIFYD_BENCH_ASIO_CONNECT_H_

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <string>

namespace notifyd::bench {

// Opens `socket` bound to `source` (the port is picked at connect time, by
// 4-tuple: Linux's IP_BIND_ADDRESS_NO_PORT), connects to `server` with
// Nagle off and the socket non-blocking, and writes all of `request`.
// Then calls `done` once: with "" once the request is written, else with
// what failed ("socket: ...", "connect: ...", "write: ..."). Call it on the
// socket's executor, which runs `done` (within this call when the socket
// cannot be opened). `socket` and `request` must outlive the call to
// `done`.
void ConnectAndSend(boost::asio::ip::tcp::socket& socket,
                    const boost::asio::ip::address& source,
                    const boost::asio::ip::tcp::endpoint& server,
                    const std::string& request,
                    std::function<void(const std::string& error)> done);

}  // namespace notifyd::bench

#endif  // NOTIFYD_BENCH_ASIO_CONNECT_H_
