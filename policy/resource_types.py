"""Type tokens of the resources the rules look at, as the engine names them."""

DOCKER_CONTAINER = "docker:index/container:Container"
DOCKER_REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
DOCKER_VOLUME = "docker:index/volume:Volume"

OCI_INSTANCE = "oci:Core/instance:Instance"
OCI_VOLUME = "oci:Core/volume:Volume"
OCI_SECURITY_LIST = "oci:Core/securityList:SecurityList"
OCI_DEFAULT_SECURITY_LIST = "oci:Core/defaultSecurityList:DefaultSecurityList"
OCI_NSG_RULE = "oci:Core/networkSecurityGroupSecurityRule:NetworkSecurityGroupSecurityRule"
OCI_BUCKET = "oci:ObjectStorage/bucket:Bucket"
