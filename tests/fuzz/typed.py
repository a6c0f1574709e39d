"""Typed descriptions of the inputs that are not Kubernetes API objects, in the JSON Schema dialect of
`tests/fuzz/schema.py`, so the same walker and mutators apply.

The core OpenAPI has no audit.k8s.io, apiserver.config.k8s.io or kubelet.config.k8s.io types. Each
description below is written from upstream's Go types (field names are the `json:` tags, types follow the Go
types: `string`/`types.UID`/`metav1.MicroTime`/`metav1.Duration` are JSON strings, `int32`/`*int32` integers,
`bool` booleans, slices arrays, `map[string]T` maps, `runtime.Unknown` any JSON value):

- `EVENT`, `EVENT_LIST`, `POLICY`: k8s.io/apiserver/pkg/apis/audit/v1/types.go (Event, EventList, Policy,
  PolicyRule, GroupResources, ObjectReference), with authentication/v1 UserInfo and meta/v1 Status;
- `ENCRYPTION_CONFIGURATION`: k8s.io/apiserver/pkg/apis/apiserver/v1 (EncryptionConfiguration,
  ResourceConfiguration, ProviderConfiguration, AESConfiguration, SecretboxConfiguration, Key,
  KMSConfiguration);
- `KUBELET_CONFIGURATION`: k8s.io/kubelet/config/v1beta1 KubeletConfiguration, the fields the kubelet checks
  read and their siblings in the same structs (authentication, authorization, TLS, ports, timeouts);
- `POD_EXEC_OPTIONS`: k8s.io/api/core/v1 PodExecOptions (the body of a pods/exec request in an audit Event).
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
INT32: Schema = {"type": "integer", "format": "int32"}
INT64: Schema = {"type": "integer", "format": "int64"}
BOOL: Schema = {"type": "boolean"}
ANY: Schema = {}
"""runtime.Unknown / RawExtension: any JSON value."""


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def mapping(values: Schema) -> Schema:
    return {"type": "object", "additionalProperties": values}


def struct(**props: Schema) -> Schema:
    return {"type": "object", "properties": props}


def one_of(*values: str) -> Schema:
    """A string field with fixed values (apiVersion, kind): the valid variant keeps the object what it is."""
    return {"type": "string", "enum": list(values)}


OBJECT_META = struct(name=STRING, namespace=STRING, uid=STRING, labels=mapping(STRING),
                     annotations=mapping(STRING))
LIST_META = struct(resourceVersion=STRING, selfLink=STRING, **{"continue": STRING})

# -- audit.k8s.io/v1 --------------------------------------------------------------------------------------

USER_INFO = struct(username=STRING, uid=STRING, groups=array(STRING), extra=mapping(array(STRING)))
OBJECT_REFERENCE = struct(resource=STRING, namespace=STRING, name=STRING, uid=STRING, apiGroup=STRING,
                          apiVersion=STRING, resourceVersion=STRING, subresource=STRING)
STATUS = struct(kind=STRING, apiVersion=STRING, metadata=LIST_META, status=STRING, message=STRING,
                reason=STRING, details=struct(name=STRING, group=STRING, kind=STRING, uid=STRING,
                                              causes=array(struct(reason=STRING, message=STRING,
                                                                  field=STRING)),
                                              retryAfterSeconds=INT32),
                code=INT32)
EVENT = struct(
    kind=STRING, apiVersion=STRING, level=STRING, auditID=STRING, stage=STRING, requestURI=STRING,
    verb=STRING, user=USER_INFO, impersonatedUser=USER_INFO, sourceIPs=array(STRING), userAgent=STRING,
    objectRef=OBJECT_REFERENCE, responseStatus=STATUS, requestObject=ANY, responseObject=ANY,
    requestReceivedTimestamp=STRING, stageTimestamp=STRING, annotations=mapping(STRING),
)
EVENT_LIST = struct(kind=STRING, apiVersion=STRING, metadata=LIST_META, items=array(EVENT))

GROUP_RESOURCES = struct(group=STRING, resources=array(STRING), resourceNames=array(STRING))
POLICY_RULE = struct(level=STRING, users=array(STRING), userGroups=array(STRING), verbs=array(STRING),
                     resources=array(GROUP_RESOURCES), namespaces=array(STRING),
                     nonResourceURLs=array(STRING), omitStages=array(STRING), omitManagedFields=BOOL)
POLICY = struct(kind=one_of("Policy"), apiVersion=one_of("audit.k8s.io/v1"), metadata=OBJECT_META, rules=array(POLICY_RULE),
                omitStages=array(STRING), omitManagedFields=BOOL)

# -- apiserver.config.k8s.io/v1 ----------------------------------------------------------------------------

KEY = struct(name=STRING, secret=STRING)
KEYS = struct(keys=array(KEY))
KMS = struct(apiVersion=STRING, name=STRING, cachesize=INT32, endpoint=STRING, timeout=STRING)
PROVIDER = struct(aesgcm=KEYS, aescbc=KEYS, secretbox=KEYS, identity=struct(), kms=KMS)
ENCRYPTION_CONFIGURATION = struct(
    kind=one_of("EncryptionConfiguration"), apiVersion=one_of("apiserver.config.k8s.io/v1"), metadata=OBJECT_META,
    resources=array(struct(resources=array(STRING), providers=array(PROVIDER))),
)

# -- kubelet.config.k8s.io/v1beta1 -------------------------------------------------------------------------

KUBELET_CONFIGURATION = struct(
    kind=one_of("KubeletConfiguration"), apiVersion=one_of("kubelet.config.k8s.io/v1beta1"),
    authentication=struct(x509=struct(clientCAFile=STRING),
                          webhook=struct(enabled=BOOL, cacheTTL=STRING),
                          anonymous=struct(enabled=BOOL)),
    authorization=struct(mode=STRING, webhook=struct(cacheAuthorizedTTL=STRING, cacheUnauthorizedTTL=STRING)),
    readOnlyPort=INT32, port=INT32, address=STRING, healthzPort=INT32, healthzBindAddress=STRING,
    rotateCertificates=BOOL, serverTLSBootstrap=BOOL, tlsCertFile=STRING, tlsPrivateKeyFile=STRING,
    tlsCipherSuites=array(STRING), tlsMinVersion=STRING, protectKernelDefaults=BOOL,
    streamingConnectionIdleTimeout=STRING, makeIPTablesUtilChains=BOOL, eventRecordQPS=INT32,
    featureGates=mapping(BOOL), staticPodPath=STRING, clusterDNS=array(STRING), clusterDomain=STRING,
    cgroupDriver=STRING, evictionHard=mapping(STRING), seccompDefault=BOOL, failSwapOn=BOOL,
)

# -- core/v1 PodExecOptions ---------------------------------------------------------------------------------

POD_EXEC_OPTIONS = struct(kind=STRING, apiVersion=STRING, stdin=BOOL, stdout=BOOL, stderr=BOOL, tty=BOOL,
                          container=STRING, command=array(STRING))
