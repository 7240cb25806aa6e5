/** MCP's log levels (notifications/message, logging/setLevel), least severe first, as in RFC 5424. */
export const LOG_LEVELS: readonly string[] = [
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
];
