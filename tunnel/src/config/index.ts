// Public API of the config loader. validateDocument, the YAML path walker and the schema helpers
// are pure (no fs, no process) so the language server can use them on unsaved text.
export {
  validateDocument,
  describePath,
  didYouMean,
  type DocumentKind,
  type ValidateOptions,
  type ValidationResult,
} from './validate';
export {
  findNodeAtPath,
  rangeAtPath,
  rangeOfNode,
  parseInstancePath,
  firstContentRange,
  type NodeAtPath,
  type PathSegment,
  type SourceRange,
} from './yaml-nodes';
export {
  getAjv,
  getValidator,
  schemaAtPath,
  findDeprecated,
  rootSchema,
  SCHEMA_IDS,
  type SchemaKind,
  type JsonSchema,
} from './schemas';
export {
  PROBLEM_CODES,
  formatProblem,
  hasErrors,
  sortProblems,
  type ConfigProblem,
  type ProblemCode,
  type ProblemFix,
  type Severity,
} from './problems';
export { UNSUPPORTED_KEYS, type UnsupportedKey } from './unsupported';
export {
  mergeConfigs,
  unify,
  settingsFrom,
  endpointsFrom,
  tunnelToSpec,
  endpointToSpec,
  parseDuration,
  endpointScheme,
  type AgentSettings,
  type UnifiedConfig,
} from './normalize';
export { loadConfig, checkConfig, resolveConfigPaths, type LoadOptions, type LoadedConfig } from './load';
export { defaultConfigPath, legacyConfigPath, type LocationOptions } from './locations';
export { addAuthtoken, type AddAuthtokenResult } from './authtoken';
export { runConfigCheck, runAddAuthtoken, type Output } from './commands';
export type * from './types';
