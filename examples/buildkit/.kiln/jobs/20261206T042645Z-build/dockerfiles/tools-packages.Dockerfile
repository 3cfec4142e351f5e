FROM kiln-buildkit-example:tools-base_25847aa6e9cebcac8784
COPY packages.txt fetch.sh /opt/packages/
# The download cache outlives the image (a rebuild finds it filled) and is in no
# layer; the token is a file under /run/secrets during this RUN only.
RUN --mount=type=cache,id=kiln-example-downloads,target=/var/cache/downloads \
    --mount=type=secret,id=mirror-token,required=true \
    sh /opt/packages/fetch.sh /opt/packages/packages.txt /var/cache/downloads
