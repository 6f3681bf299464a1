export { isLevel, LOG_LEVELS, type Logger, type LoggerOptions, logger, logs } from './logger.js';
