/*
 * Logging of carbon-node: one event per line on stderr,
 *   ts=2026-11-29T17:31:05.123Z level=info event=commit height=12 txs=40
 * so operators can grep and ship it. Thread-safe (one write(2) per line).
 */
#ifndef CARBON_NODE_LOG_H
#define CARBON_NODE_LOG_H

enum node_log_level { NODE_LOG_DEBUG = 0, NODE_LOG_INFO = 1, NODE_LOG_WARN = 2, NODE_LOG_ERROR = 3 };

void node_log_set_level(enum node_log_level level);
/* Parses "debug", "info", "warn", "error"; -1 if none. */
int node_log_parse_level(const char *s);
/* fmt holds the key=value fields after the event name. */
void node_log(enum node_log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define NLOG_DEBUG(ev, ...) node_log(NODE_LOG_DEBUG, ev, __VA_ARGS__)
#define NLOG_INFO(ev, ...) node_log(NODE_LOG_INFO, ev, __VA_ARGS__)
#define NLOG_WARN(ev, ...) node_log(NODE_LOG_WARN, ev, __VA_ARGS__)
#define NLOG_ERROR(ev, ...) node_log(NODE_LOG_ERROR, ev, __VA_ARGS__)

#endif
