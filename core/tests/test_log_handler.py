import asyncio
import io
import logging

from django.conf import settings

from core.log_handler import TurnBufferedStreamHandler


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def _logger(stream: CountingStream) -> tuple[logging.Logger, TurnBufferedStreamHandler]:
    handler = TurnBufferedStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.Logger("turn-buffered-test")
    logger.addHandler(handler)
    return logger, handler


def test_lines_of_one_loop_turn_go_out_in_one_write_in_order():
    stream = CountingStream()
    logger, _ = _logger(stream)

    async def scenario():
        for i in range(50):
            logger.info("request %d", i)
        assert stream.writes == 0  # kept until the turn ends
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert stream.writes == 1
        logger.info("next turn")
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(scenario())
    lines = stream.getvalue().splitlines()
    assert lines == [f"request {i}" for i in range(50)] + ["next turn"]
    assert stream.writes == 2


def test_a_line_logged_off_a_loop_is_written_at_once():
    stream = CountingStream()
    logger, _ = _logger(stream)
    logger.warning("from a thread or a command")
    assert stream.getvalue() == "from a thread or a command\n"


def test_a_line_kept_when_its_loop_stopped_is_written_by_flush_and_later_loops_still_write():
    stream = CountingStream()
    logger, handler = _logger(stream)
    loop = asyncio.new_event_loop()

    def log_and_stop():
        logger.info("last line of a stopping worker")
        loop.stop()  # the loop exits before the write this turn scheduled

    loop.call_soon(log_and_stop)
    loop.run_forever()
    loop.close()
    assert stream.getvalue() == ""
    handler.flush()  # logging.shutdown does this at exit
    assert stream.getvalue() == "last line of a stopping worker\n"

    async def another_loop():
        logger.info("a new loop")
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(another_loop())
    assert stream.getvalue().endswith("a new loop\n")


def test_the_console_handler_is_the_turn_buffered_one():
    assert settings.LOGGING["handlers"]["console"]["class"] == (
        "core.log_handler.TurnBufferedStreamHandler"
    )
    handlers = logging.getLogger().handlers
    assert any(isinstance(handler, TurnBufferedStreamHandler) for handler in handlers)
