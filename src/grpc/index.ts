export { type GrpcServiceDefinition, grpcService } from './service.js';
