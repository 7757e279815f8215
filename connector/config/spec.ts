import spec from '../../spec/spec.json' with { type: 'json' };

/** The ConnectorSpecification printed by `spec`; its connectionSpecification also validates config. */
export const connectorSpecification = spec;
export const configSchema = spec.connectionSpecification;
