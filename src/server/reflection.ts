/**
 * gRPC server reflection (grpc.reflection.v1 and grpc.reflection.v1alpha) for Connect-ES v2.
 *
 * There is no installable reflection package for Connect-ES, so this serves the protocol from the
 * descriptors embedded in generated code: every `GenService` const carries its `DescFile`, and each
 * `DescFile` carries its `FileDescriptorProto` and its (transitive) dependencies, including the
 * well-known types embedded in `@bufbuild/protobuf/wkt`.
 *
 * The reflection stream is bidirectional, so clients need HTTP/2 (gRPC over h2c or Connect over h2);
 * `buf curl --reflect` and grpcurl both use h2c on `http://` URLs.
 */
import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** The shape shared by v1 and v1alpha `ServerReflectionRequest`. */
export interface ReflectionRequest {
  host: string;
  messageRequest:
    | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

/** The `message_response` oneof shared by v1 and v1alpha `ServerReflectionResponse`. */
export type ReflectionMessageResponse =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/**
 * Index of the files, symbols and extensions reachable from a set of services.
 * Files are keyed by `file.proto.name` (e.g. "grpc/health/v1/health.proto"); `DescFile.name` lacks the
 * ".proto" suffix and is not what clients ask for.
 */
export class ReflectionIndex {
  private readonly serviceNames: string[] = [];
  private readonly files = new Map<string, DescFile>();
  private readonly encoded = new Map<string, Uint8Array>();
  private readonly symbols = new Map<string, DescFile>();
  /** extendee type name -> field number -> file declaring the extension */
  private readonly extensions = new Map<string, Map<number, DescFile>>();
  private readonly messageTypes = new Set<string>();

  constructor(services: Iterable<DescService> = []) {
    for (const s of services) this.addService(s);
  }

  /** Adds a service to list_services and indexes its file and the file's transitive dependencies. */
  addService(service: DescService): void {
    if (!this.serviceNames.includes(service.typeName)) this.serviceNames.push(service.typeName);
    this.addFile(service.file);
  }

  /** Indexes a file (and its dependencies) without listing its services. */
  addFile(file: DescFile): void {
    const name = file.proto.name;
    if (this.files.has(name)) return;
    this.files.set(name, file);
    for (const dep of file.dependencies) this.addFile(dep);
    for (const t of nestedTypes(file)) {
      this.symbols.set(t.typeName, file);
      switch (t.kind) {
        case "message":
          this.messageTypes.add(t.typeName);
          for (const f of t.fields) this.symbols.set(`${t.typeName}.${f.name}`, file);
          for (const o of t.oneofs) this.symbols.set(`${t.typeName}.${o.name}`, file);
          break;
        case "enum": {
          // Enum values are scoped as siblings of their enum (C++ scoping rules).
          const scope = t.parent?.typeName ?? file.proto.package;
          for (const v of t.values) this.symbols.set(scope ? `${scope}.${v.name}` : v.name, file);
          break;
        }
        case "service":
          for (const m of t.methods) this.symbols.set(`${t.typeName}.${m.name}`, file);
          break;
        case "extension": {
          let byNumber = this.extensions.get(t.extendee.typeName);
          if (!byNumber) this.extensions.set(t.extendee.typeName, (byNumber = new Map()));
          byNumber.set(t.number, file);
          break;
        }
      }
    }
  }

  listServices(): string[] {
    return [...this.serviceNames];
  }

  fileByName(name: string): DescFile | undefined {
    return this.files.get(name);
  }

  fileContainingSymbol(symbol: string): DescFile | undefined {
    return this.symbols.get(symbol.startsWith(".") ? symbol.slice(1) : symbol);
  }

  fileContainingExtension(containingType: string, fieldNumber: number): DescFile | undefined {
    return this.extensions.get(containingType)?.get(fieldNumber);
  }

  /** Extension numbers of a message type; undefined if the type is unknown. */
  extensionNumbers(typeName: string): number[] | undefined {
    if (!this.messageTypes.has(typeName)) return undefined;
    return [...(this.extensions.get(typeName)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /** Serialized FileDescriptorProto, cached. */
  encode(file: DescFile): Uint8Array {
    const name = file.proto.name;
    let bytes = this.encoded.get(name);
    if (!bytes) this.encoded.set(name, (bytes = toBinary(FileDescriptorProtoSchema, file.proto)));
    return bytes;
  }

  /**
   * The requested file first, then its transitive dependencies that this stream has not sent yet
   * (the same rule as grpc-go: the requested file is always sent).
   */
  withDependencies(file: DescFile, sent: Set<string>): Uint8Array[] {
    const out: Uint8Array[] = [];
    const seen = new Set<string>();
    const visit = (f: DescFile, requested: boolean) => {
      const name = f.proto.name;
      if (seen.has(name)) return;
      seen.add(name);
      if (requested || !sent.has(name)) {
        out.push(this.encode(f));
        sent.add(name);
      }
      for (const dep of f.dependencies) visit(dep, false);
    };
    visit(file, true);
    return out;
  }

  /** Answers one request. `sent` holds the file names already sent on this stream. */
  respond(req: ReflectionRequest, sent: Set<string> = new Set()): ReflectionMessageResponse {
    const notFound = (errorMessage: string): ReflectionMessageResponse => ({
      case: "errorResponse",
      value: { errorCode: Code.NotFound, errorMessage },
    });
    const files = (f: DescFile): ReflectionMessageResponse => ({
      case: "fileDescriptorResponse",
      value: { fileDescriptorProto: this.withDependencies(f, sent) },
    });
    const r = req.messageRequest;
    switch (r.case) {
      case "listServices":
        return { case: "listServicesResponse", value: { service: this.listServices().map((name) => ({ name })) } };
      case "fileByFilename": {
        const f = this.fileByName(r.value);
        return f ? files(f) : notFound(`file not found: ${r.value}`);
      }
      case "fileContainingSymbol": {
        const f = this.fileContainingSymbol(r.value);
        return f ? files(f) : notFound(`symbol not found: ${r.value}`);
      }
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = r.value;
        const f = this.fileContainingExtension(containingType, extensionNumber);
        return f ? files(f) : notFound(`extension not found: ${containingType} ${extensionNumber}`);
      }
      case "allExtensionNumbersOfType": {
        const numbers = this.extensionNumbers(r.value);
        return numbers
          ? { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value, extensionNumber: numbers } }
          : notFound(`type not found: ${r.value}`);
      }
      default:
        return {
          case: "errorResponse",
          value: { errorCode: Code.InvalidArgument, errorMessage: "empty or unsupported message_request" },
        };
    }
  }
}

/**
 * Registers grpc.reflection.v1.ServerReflection and grpc.reflection.v1alpha.ServerReflection on the
 * router. `services` are the generated service consts to advertise (e.g. `Health`, `EngineService`);
 * both reflection services are always added so they list too. Returns the index, to which more
 * services can be added later with `addService`.
 */
export function registerReflection(router: ConnectRouter, services: DescService[]): ReflectionIndex {
  const index = new ReflectionIndex(services);
  index.addService(v1.ServerReflection);
  index.addService(v1alpha.ServerReflection);

  router.service(v1.ServerReflection, {
    async *serverReflectionInfo(requests) {
      const sent = new Set<string>();
      for await (const req of requests) {
        yield { validHost: req.host, originalRequest: req, messageResponse: index.respond(req, sent) };
      }
    },
  });
  router.service(v1alpha.ServerReflection, {
    async *serverReflectionInfo(requests) {
      const sent = new Set<string>();
      for await (const req of requests) {
        yield { validHost: req.host, originalRequest: req, messageResponse: index.respond(req, sent) };
      }
    },
  });
  return index;
}
