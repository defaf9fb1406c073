#!/usr/bin/env python3
"""What a million customer messages cost on AWS (us-east-1, arm64, on-demand list prices).

    python3 docs/cost.py

The inputs are named below with where each comes from: measured by the test suite (AWS
requests counted on the emulator, log bytes written, the session item's size), measured by the
benchmarks (CPU), or assumed (network waits inside AWS and to Meta, which cannot be measured
off AWS). Change an input and run it again. Meta reaches the webhook at its Lambda function URL,
which costs nothing beyond the invocation; the desk's HTTP API is not on a customer message's path.
"""

# ---------------------------------------------------------------- prices (USD, us-east-1)
LAMBDA_GB_SECOND = 0.0000133334  # arm64, first tier
LAMBDA_REQUEST = 0.20 / 1e6
SQS_FIFO_REQUEST = 0.50 / 1e6
DYNAMODB_WRU = 0.625 / 1e6  # on-demand, Standard table class
DYNAMODB_RRU = 0.125 / 1e6
SCHEDULER_INVOCATION = 1.00 / 1e6  # past the 14 M free a month; API calls not billed
LOGS_GB = 0.50  # CloudWatch Logs (Lambda's vended logs), first 10 TB

# ---------------------------------------------------------------- the conversation priced
# A bot conversation of 5 customer messages: "oi" (greeting and menu), then 4 answered with one
# reply each, then silence: the inactivity timer goes off 3 times (once to wait again because
# the customer wrote since, once to follow up, once to close), sending 2 more replies. Each
# reply brings Meta's 3 status webhooks (sent, delivered, read).
MESSAGES = 5
REPLIES = 2 + 4 + 2
STATUSES = 3 * REPLIES
TIMERS_FIRED = 3
SCHEDULES_SET = 3

# ---------------------------------------------------------------- measured (tests/exactly_once.rs)
# `bash tests/run the_aws_requests the_log_bytes` prints them.
# DynamoDB requests per event: (reads, session writes, conversation-log writes). Each reply
# logged is two log writes: its line, and its status item (which lets the webhook know it).
FIRST = (4, 3, 5)  # 4 GetItem (session, a leftover place in each of 3 lines), 3 UpdateItem
NEXT = (1, 2, 3)
# A plain status of a bot message, at the webhook; no queue, no processor
# (`a_plain_status_of_a_bot_message_is_one_write_at_the_webhook`): `sent` is one GetItem (the
# status item starts there), `delivered` and `read` one conditional UpdateItem each.
STATUSES_AT_WEBHOOK = [(1, 0, 0), (0, 0, 1), (0, 0, 1)]  # per reply: sent, delivered, read
# The timer events: wait again (read, write); follow up and close (read, 2 writes, 1 log line).
TIMER_EVENTS = [(1, 1, 0), (1, 2, 2), (1, 2, 2)]
# The session's item mid-conversation, its JSON deflated: 847 bytes (846 with a greeting and
# menu in its outbox); one write unit per write. (As plain JSON it took 1.7 KB: two.)
SESSION_ITEM_KB = 0.85
LOG_ITEM_KB = 0.5
# atende's own log bytes per invocation (JSON at INFO, spans and EMF metrics included). A
# status the webhook records is logged at DEBUG: nothing at INFO.
LOG_WEBHOOK = 293
LOG_WEBHOOK_STATUS = 0
LOG_FIRST, LOG_NEXT = 996, 802
LOG_TIMER = 700  # not measured: like a message's, without the message
# Lambda's platform.start + platform.report (JSON), per invocation: kept for the processor
# (Lambda's default), for the webhook only with WebhookSystemLogLevel=INFO (default WARN).
LOG_PLATFORM = 460
LOG_PLATFORM_WEBHOOK = 0

# ---------------------------------------------------------------- network waits (assumed)
MS_DYNAMODB = 5
MS_SQS = 10
MS_SCHEDULER = 20
MS_READ_RECEIPT = 150
MS_GRAPH_SEND = 250
MS_CPU = 0.5  # benches/pipe.rs: 0.28 ms per answered customer for the whole pipe
MEMORY_GB = 0.25  # MemorySize 256


def wru(reads_writes_logs):
    _, session, log = reads_writes_logs
    return session * -(-SESSION_ITEM_KB // 1) + log * -(-LOG_ITEM_KB // 1)


def ms(event, sends, read_receipts, schedules):
    reads, session, log = event
    return (
        (reads + session + log) * MS_DYNAMODB
        + sends * MS_GRAPH_SEND
        + read_receipts * MS_READ_RECEIPT
        + schedules * MS_SCHEDULER
        + MS_CPU
    )


def conversation(events_per_batch, statuses=STATUSES):
    """Cost lines (USD) of one conversation; the processor gets `events_per_batch` events a
    batch (1 on a quiet number, up to 10 on a busy one, when a batch's customers run side by
    side and its duration is about its slowest)."""
    STATUSES = statuses  # noqa: N806 (the same name as the conversation's)
    webhook_calls = MESSAGES + STATUSES
    status_requests = [
        sum(s[i] for s in STATUSES_AT_WEBHOOK) * STATUSES // len(STATUSES_AT_WEBHOOK)
        for i in range(3)
    ]
    events = MESSAGES + TIMERS_FIRED
    batches = events / events_per_batch
    processor_ms = (
        ms(FIRST, 2, 1, 1)
        + (MESSAGES - 1) * ms(NEXT, 1, 1, 0)
        + ms(TIMER_EVENTS[0], 0, 0, 1)
        + ms(TIMER_EVENTS[1], 1, 0, 1)
        + ms(TIMER_EVENTS[2], 1, 0, 0)
    ) / events_per_batch
    webhook_ms = MESSAGES * (MS_SQS + MS_CPU) + STATUSES * (MS_DYNAMODB + MS_CPU)
    reads = FIRST[0] + (MESSAGES - 1) * NEXT[0] + sum(t[0] for t in TIMER_EVENTS)
    reads += status_requests[0]  # strongly consistent, under 4 KB: one read unit each
    writes = wru(FIRST) + (MESSAGES - 1) * wru(NEXT) + wru(status_requests)
    writes += sum(wru(t) for t in TIMER_EVENTS)
    log_bytes = (
        MESSAGES * LOG_WEBHOOK
        + STATUSES * LOG_WEBHOOK_STATUS
        + webhook_calls * LOG_PLATFORM_WEBHOOK
        + LOG_FIRST
        + (MESSAGES - 1) * LOG_NEXT
        + TIMERS_FIRED * LOG_TIMER
        + batches * LOG_PLATFORM
    )
    return {
        "Lambda requests": (webhook_calls + batches) * LAMBDA_REQUEST,
        "Lambda duration": (webhook_ms + processor_ms) / 1000 * MEMORY_GB * LAMBDA_GB_SECOND,
        # The webhook's SendMessageBatch (not for the statuses it records), Scheduler's send of
        # each timer, and the event source mapping's ReceiveMessage and DeleteMessageBatch.
        "SQS FIFO": (MESSAGES + TIMERS_FIRED + 2 * batches) * SQS_FIFO_REQUEST,
        "DynamoDB writes": writes * DYNAMODB_WRU,
        "DynamoDB reads": reads * DYNAMODB_RRU,
        "EventBridge Scheduler": TIMERS_FIRED * SCHEDULER_INVOCATION,
        "CloudWatch Logs": log_bytes / 1e9 * LOGS_GB,
    }


def main():
    per_million = 1e6 / MESSAGES
    quiet, busy = conversation(1), conversation(10)
    print(f"{'per million customer messages':<28} {'quiet number':>13} {'busy number':>12}")
    for line in quiet:
        print(f"{line:<28} {quiet[line] * per_million:>12.2f}$ {busy[line] * per_million:>11.2f}$")
    total_quiet = sum(quiet.values()) * per_million
    total_busy = sum(busy.values()) * per_million
    print(f"{'total':<28} {total_quiet:>12.2f}$ {total_busy:>11.2f}$")
    without = [sum(conversation(b, statuses=0).values()) * per_million for b in (1, 10)]
    print(
        f"of which the {STATUSES} status webhooks of a conversation's {REPLIES} replies: "
        f"{total_quiet - without[0]:.2f}$ ({1 - without[0] / total_quiet:.0%}) and "
        f"{total_busy - without[1]:.2f}$ ({1 - without[1] / total_busy:.0%})"
    )


# What is left to save costs a feature or a guarantee: each option added to the ones before it.
OPTIONS = [
    ("nothing (as deployed)", {}),
    (
        "the bot's messages' delivered and read ticks (a read at the webhook, not a write)",
        {"STATUSES_AT_WEBHOOK": [(1, 0, 0), (1, 0, 0), (1, 0, 0)]},
    ),
    ("half the memory (128 MB)", {"MEMORY_GB": 0.125}),
    (
        "the session saved once per event, not after each reply",
        {"FIRST": (FIRST[0], FIRST[1] - 1, FIRST[2])},
    ),
]


def totals(changes):
    """The quiet and the busy number's totals with these inputs changed."""
    saved = {name: globals()[name] for name in changes}
    globals().update(changes)
    try:
        per_million = 1e6 / MESSAGES
        return [sum(conversation(b).values()) * per_million for b in (1, 10)]
    finally:
        globals().update(saved)


def options():
    print(f"\n{'also given up':<84} {'quiet':>7} {'busy':>7}")
    changes = {}
    for name, change in OPTIONS:
        changes.update(change)
        quiet, busy = totals(changes)
        print(f"{name:<84} {quiet:>6.2f}$ {busy:>6.2f}$")
    quiet, busy = totals({"STATUSES_AT_WEBHOOK": [(1, 0, 0), (1, 0, 0), (0, 0, 1)]})
    print(f"{'(alone) the delivered ticks of the bot messages':<84} {quiet:>6.2f}$ {busy:>6.2f}$")


if __name__ == "__main__":
    main()
    options()
