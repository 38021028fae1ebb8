/** The proxy-wasm ABI 0.2.1 numbers the host answers with, named as its API exports them, taken from the
 * numbering the filter compiles with (assembly/abi-numbers.ts) so the two cannot drift apart. */
import {
  LOG_CRITICAL,
  LOG_DEBUG,
  LOG_ERROR,
  LOG_INFO,
  LOG_TRACE,
  LOG_WARN,
  RESULT_BAD_ARGUMENT,
  RESULT_BROKEN_CONNECTION,
  RESULT_CAS_MISMATCH,
  RESULT_EMPTY,
  RESULT_INTERNAL_FAILURE,
  RESULT_INVALID_MEMORY_ACCESS,
  RESULT_NOT_FOUND,
  RESULT_OK,
  RESULT_PARSE_FAILURE,
  RESULT_SERIALIZATION_FAILURE,
  RESULT_UNIMPLEMENTED,
} from '../assembly/abi-numbers.ts';

export const WasmResult = {
  Ok: RESULT_OK,
  NotFound: RESULT_NOT_FOUND,
  BadArgument: RESULT_BAD_ARGUMENT,
  SerializationFailure: RESULT_SERIALIZATION_FAILURE,
  ParseFailure: RESULT_PARSE_FAILURE,
  InvalidMemoryAccess: RESULT_INVALID_MEMORY_ACCESS,
  Empty: RESULT_EMPTY,
  CasMismatch: RESULT_CAS_MISMATCH,
  InternalFailure: RESULT_INTERNAL_FAILURE,
  BrokenConnection: RESULT_BROKEN_CONNECTION,
  Unimplemented: RESULT_UNIMPLEMENTED,
} as const;

export const LogLevel = {
  trace: LOG_TRACE,
  debug: LOG_DEBUG,
  info: LOG_INFO,
  warn: LOG_WARN,
  error: LOG_ERROR,
  critical: LOG_CRITICAL,
} as const;
export type LogLevelName = keyof typeof LogLevel;

const levelNames = new Map(
  Object.entries(LogLevel).map(([name, level]) => [level as number, name as LogLevelName]),
);

/** The name of a level the module passes to `proxy_log`; info for a number the ABI does not define. */
export function levelName(level: number): LogLevelName {
  return levelNames.get(level) ?? 'info';
}
