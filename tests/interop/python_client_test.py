#!/usr/bin/python3
"""A gRPC client that is not ours (Debian's python3-grpcio) talks to notifyd.

Generates the message classes from proto/ with protoc at test time, starts the
real notifyd binary on port 0, calls NotifyUser and reads the notification
back with ListNotifications, fans one message out with NotifyUsers and
streams 50 through PublishStream.

Usage: python_client_test.py <notifyd binary> <repo proto dir>
"""
import os
import sys
import tempfile

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
from notifyd_process import (  # noqa: E402
    notify_pb2, running_notifyd, unary)


def main():
    notifyd, proto_dir = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        pb = notify_pb2(proto_dir, tmp)

        with running_notifyd(notifyd, os.path.join(tmp, "n")) as ports:
            port = ports["grpc_port"]
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")

            notify = unary(channel, "NotifyUser", pb.NotifyUserResponse)
            sent = notify(pb.NotifyUserRequest(
                user_id="py-user", event="greeting",
                data='{"from":"python"}\nsecond line'), timeout=10)
            assert sent.notification.channel == "user:py-user", sent
            assert not sent.duplicate

            list_call = unary(channel, "ListNotifications",
                              pb.ListNotificationsResponse)
            listed = list_call(pb.ListNotificationsRequest(user_id="py-user"),
                               timeout=10)
            assert len(listed.notifications) == 1, listed
            got = listed.notifications[0]
            assert got.id == sent.notification.id, (got, sent)
            assert got.event == "greeting"
            assert got.data == '{"from":"python"}\nsecond line'

            try:
                notify(pb.NotifyUserRequest(user_id="bad user"), timeout=10)
                raise AssertionError("invalid user_id was accepted")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
                assert "user_id" in e.details(), e.details()
            # Fan-out: one call, a row per user, each its own id.
            many = unary(channel, "NotifyUsers", pb.NotifyUsersResponse)
            users = [f"py-{i}" for i in range(100)]
            fanned = many(pb.NotifyUsersRequest(
                user_ids=users, data="hello all", idempotency_key="py-k"),
                timeout=10)
            assert fanned.stored == 100, fanned
            ids = [d.id for d in fanned.deliveries]
            assert ids == list(range(ids[0], ids[0] + 100)), ids
            assert [d.user_id for d in fanned.deliveries] == users
            again = many(pb.NotifyUsersRequest(
                user_ids=users[:2] + ["py-new"], data="hello all",
                idempotency_key="py-k"), timeout=10)
            assert [d.duplicate for d in again.deliveries] == \
                [True, True, False], again
            try:
                many(pb.NotifyUsersRequest(user_ids=["a", "a"]), timeout=10)
                raise AssertionError("a repeated user was accepted")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
                assert "user_ids[1] repeats" in e.details(), e.details()
            # A producer's stream: an answer per message, in order.
            stream = channel.stream_stream(
                "/notify.v1.Notifier/PublishStream",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=pb.PublishStreamResponse.FromString)
            messages = [pb.PublishStreamRequest(
                ref=f"m{i}", notify_user=pb.NotifyUserRequest(
                    user_id="py-stream", data=f"{i}",
                    idempotency_key=f"s{i}")) for i in range(50)]
            messages.insert(10, pb.PublishStreamRequest(
                ref="bad", publish=pb.PublishRequest(channel="user:x")))
            answers = list(stream(iter(messages), timeout=30))
            assert [a.ref for a in answers] == [m.ref for m in messages]
            assert answers[10].code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
            good = [a for a in answers if a.ref != "bad"]
            assert all(a.code == 0 for a in good), good
            stream_ids = [a.notify_user.notification.id for a in good]
            assert stream_ids == sorted(stream_ids), stream_ids
            print("python client: NotifyUser + ListNotifications + "
                  "NotifyUsers + PublishStream OK, id", got.id)


if __name__ == "__main__":
    main()
