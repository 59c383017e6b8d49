"""webhooks_project.broker: kombu's Redis channel, one client a channel for its sends."""

from kombu import Connection

from webhooks_project.broker import Transport


def test_a_channel_sends_through_one_client_and_takes_a_new_one_with_a_new_pool(redis_url):
    # given a channel of the project's transport
    with Connection(redis_url, transport=Transport) as connection:
        channel = connection.default_channel

        # when it puts messages and reads a queue's length, twice
        channel._put("broker-test", {"body": "1"})
        first = channel._create_client()
        channel._put("broker-test", {"body": "2"})

        # then the same client served both, through the channel's pool
        assert channel._create_client() is first
        assert first.connection_pool is channel.pool
        assert channel._size("broker-test") == 2

        # and once its pool is replaced (a reconnect), a client of the new one
        channel._pool = None
        assert channel._create_client() is not first
        assert channel._create_client().connection_pool is channel.pool
        channel._purge("broker-test")
