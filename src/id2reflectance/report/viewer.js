// id2reflectance asset viewer: hand-written WebGL2, no library, no network.
// Shading = id2r relight's image-environment fast path (processing/relight/ibl.py), default "hybrid":
//   diffuse  = albedo * E(n) / pi          E: exact irradiance table (lat-long, bilinear)
//   specular = k * A(n.v, r) * P(R, r)     where n.v >= 0.5 (split sum); R = 2 (n.v) n - v; P: GGX-prefiltered
//                                          levels at n = v = R, linear in roughness; A: directional albedo table
//            = specularSampled(...)        where 0 < n.v < 0.5 (filtered importance sampling, 4 x 8 samples)
// then tone_map of _shared/imageio.py: exposure 2^stops, Reinhard extended on luminance (white 4), sRGB.
// Data: <script type="application/json" id="id2r-viewer-data">, arrays as base64 (zlib-deflated) blobs.
// Test hook: URL hash "#shots=env:studio,view:lit,exposure:-1;env:city,specular:split_sum&size=256" renders each shot and
// stores canvas PNG data URLs in <body data-shot-I>; <body data-viewer> is "ready" or "error: ...".
"use strict";
(function () {
  const PI = Math.PI;
  const VIEWS = ["lit", "diffuse", "specular", "unlit", "diffuse_albedo", "specular_albedo", "roughness",
    "normals", "coverage", "confidence"];

  function fail(msg) {
    document.body.setAttribute("data-viewer", "error: " + msg);
    console.error("id2r viewer: " + msg);
  }

  async function blob(b) {
    const bin = atob(b.data);
    let bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    if (b.deflate) {
      const ds = new DecompressionStream("deflate");
      const buf = await new Response(new Blob([bytes]).stream().pipeThrough(ds)).arrayBuffer();
      bytes = new Uint8Array(buf);
    }
    if (b.shuffle > 1) {  // bytes were regrouped by position within each element
      const k = b.shuffle, n = bytes.length / k, out = new Uint8Array(bytes.length);
      for (let j = 0; j < k; j++) for (let i = 0; i < n; i++) out[i * k + j] = bytes[j * n + i];
      bytes = out;
    }
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    if (b.dtype === "f32") return new Float32Array(ab);
    if (b.dtype === "u32") return new Uint32Array(ab);
    return new Uint16Array(ab); // f16 and u16
  }

  const VS_MESH = `#version 300 es
in vec3 aPos; in vec2 aUv; uniform mat4 uViewProj; out vec3 vPos; out vec2 vUv;
void main(){ vPos = aPos; vUv = aUv; gl_Position = uViewProj * vec4(aPos, 1.0); }`;
  const VS_BG = `#version 300 es
const vec2 P[3] = vec2[3](vec2(-1.0, -1.0), vec2(3.0, -1.0), vec2(-1.0, 3.0));
out vec2 vNdc; void main(){ vNdc = P[gl_VertexID]; gl_Position = vec4(P[gl_VertexID], 0.9999, 1.0); }`;
  const FS_COMMON = (nl) => `#version 300 es
precision highp float; precision highp sampler2DArray;
const float PI = 3.141592653589793;
uniform sampler2D uIrr; uniform sampler2DArray uSpec; uniform sampler2DArray uRough; uniform sampler2D uDfg;
uniform int uSharp; uniform sampler2D uBg;
uniform float uLevels[${nl}]; uniform vec4 uDfgGrid; uniform float uEnvRot; uniform float uExposure;
vec2 latlong(vec3 d){
  float c = cos(uEnvRot), s = sin(uEnvRot);
  vec3 l = vec3(c * d.x - s * d.z, d.y, s * d.x + c * d.z);
  return vec2(atan(-l.x, l.z) / (2.0 * PI) + 0.5, acos(clamp(l.y, -1.0, 1.0)) / PI);
}
vec3 level(vec2 t, int k){  // levels 0..uSharp-1 at full size, the rougher ones at half size
  return k < uSharp ? textureLod(uSpec, vec3(t, float(k)), 0.0).rgb : textureLod(uRough, vec3(t, float(k - uSharp)), 0.0).rgb;
}
vec3 prefiltered(vec3 d, float r){
  r = clamp(r, 0.0, 1.0);
  int k = 0;
  for (int i = 0; i < ${nl - 1}; i++) { if (r >= uLevels[i]) k = i; }
  float f = (r - uLevels[k]) / (uLevels[k + 1] - uLevels[k]);
  vec2 t = latlong(d);
  return mix(level(t, k), level(t, k + 1), f);
}
float dirAlbedo(float mu, float r){
  float n = uDfgGrid.w;
  float th = acos(clamp(mu, 1e-3, 1.0));
  float x = clamp(th / uDfgGrid.x * (n - 1.0), 0.0, n - 1.0);
  float y = clamp((clamp(r, uDfgGrid.y, 1.0) - uDfgGrid.y) / (uDfgGrid.z - uDfgGrid.y) * (n - 1.0), 0.0, n - 1.0);
  return textureLod(uDfg, vec2((y + 0.5) / n, (x + 0.5) / n), 0.0).r;
}
// relight's specular_sampled (ibl.py): 4 x 8 stratified GGX visible-normal samples for the real
// view, each looked up in the level whose lobe matches the sample's solid angle, weighted by F G2 / G1
const float F0 = 0.028;
float schlickF(float c){ return F0 + (1.0 - F0) * pow(clamp(1.0 - c, 0.0, 1.0), 5.0); }
float smithL(float c, float a){ float c2 = max(c * c, 1e-12); return 0.5 * (-1.0 + sqrt(1.0 + a * a * max(1.0 - c2, 0.0) / c2)); }
float ggxD(float ch, float a){ float a2 = a * a; float d = ch * ch * (a2 - 1.0) + 1.0; return a2 / (PI * d * d); }
vec3 specularSampled(vec3 n, vec3 v, float k, float r){
  r = clamp(r, 0.0, 1.0);
  float a = max(r, 0.02); a = a * a;
  float sg = n.z >= 0.0 ? 1.0 : -1.0, aa = -1.0 / (sg + n.z), bb = n.x * n.y * aa;
  vec3 t = vec3(1.0 + sg * n.x * n.x * aa, sg * bb, -sg * n.x), b = vec3(bb, sg + n.y * n.y * aa, -n.y);
  vec3 vl = vec3(dot(v, t), dot(v, b), dot(v, n));
  float front = vl.z > 1e-4 ? 1.0 : 0.0;
  vl.z = max(vl.z, 1e-4); vl = normalize(vl);
  vec3 vh = normalize(vec3(a * vl.x, a * vl.y, vl.z));
  float lensq = vh.x * vh.x + vh.y * vh.y;
  vec3 t1 = lensq > 1e-14 ? vec3(-vh.y, vh.x, 0.0) * inversesqrt(max(lensq, 1e-14)) : vec3(1.0, 0.0, 0.0);
  vec3 t2 = cross(vh, t1);
  float lamV = smithL(vl.z, a), g1v = 1.0 / (1.0 + lamV), sv = 0.5 * (1.0 + vh.z);
  vec3 acc = vec3(0.0); float wsum = 0.0;
  for (int i = 0; i < 4; i++) for (int j = 0; j < 8; j++) {
    float rr = sqrt((float(i) + 0.5) / 4.0), ph = 2.0 * PI * (float(j) + 0.5) / 8.0;
    float p1 = rr * cos(ph), p2 = rr * sin(ph);
    p2 = (1.0 - sv) * sqrt(max(0.0, 1.0 - p1 * p1)) + sv * p2;
    float p3 = sqrt(max(0.0, 1.0 - p1 * p1 - p2 * p2));
    vec3 nh = p1 * t1 + p2 * t2 + p3 * vh;
    vec3 h = normalize(vec3(a * nh.x, a * nh.y, max(nh.z, 1e-7)));
    float vdh = dot(vl, h);
    vec3 l = 2.0 * vdh * h - vl;
    if (l.z <= 0.0) continue;
    float w = schlickF(clamp(vdh, 0.0, 1.0)) / (1.0 + lamV + smithL(max(l.z, 1e-7), a)) / g1v;
    float pdf = ggxD(clamp(h.z, 0.0, 1.0), a) * g1v / (4.0 * vl.z);
    float rs = min(sqrt(sqrt(1.0 / (32.0 * max(pdf, 1e-12)) / (4.0 * PI))), r);
    acc += w * prefiltered(l.x * t + l.y * b + l.z * n, rs);
    wsum += w;
  }
  return k * dirAlbedo(vl.z, r) * front * acc / (wsum > 0.0 ? wsum : 1.0);
}
vec3 srgb(vec3 x){
  x = clamp(x, 0.0, 1.0);
  return mix(x * 12.92, 1.055 * pow(x, vec3(1.0 / 2.4)) - 0.055, step(vec3(0.0031308), x));
}
vec3 toneMap(vec3 x){
  x = max(x, 0.0) * exp2(uExposure);
  float L = dot(x, vec3(0.2126, 0.7152, 0.0722));
  x = L > 0.0 ? x * ((1.0 + L / 16.0) / (1.0 + L)) : vec3(0.0);
  return srgb(x);
}
`;
  const FS_BG = (nl) => FS_COMMON(nl) + `
in vec2 vNdc; uniform mat4 uInvViewProj; uniform vec3 uEye; out vec4 frag;
void main(){
  vec4 p = uInvViewProj * vec4(vNdc, 1.0, 1.0);
  vec3 d = normalize(p.xyz / p.w - uEye);
  frag = vec4(toneMap(textureLod(uBg, latlong(d), 0.0).rgb), 1.0);
}`;
  const FS_MESH = (nl) => FS_COMMON(nl) + `
in vec3 vPos; in vec2 vUv;
uniform sampler2D uA; uniform sampler2D uB; uniform sampler2D uC;
uniform vec3 uEye; uniform int uView; uniform float uSpecHi; uniform int uHybrid; uniform mat4 uInvViewProj; out vec4 frag;
void main(){
  vec3 v = normalize(uEye - vPos);
  if (!gl_FrontFacing) {  // relight: a ray whose first hit is a back face sees the environment
    frag = vec4(toneMap(textureLod(uBg, latlong(-v), 0.0).rgb), 1.0); return;
  }
  vec2 t = vec2(vUv.x, 1.0 - vUv.y);
  vec4 A = texture(uA, t); vec4 B = texture(uB, t); vec4 C = texture(uC, t);
  vec3 n = normalize(B.xyz); float r = B.w;
  if (uView == 3 || uView == 4) { frag = vec4(srgb(A.rgb), 1.0); return; }
  if (uView == 5) { frag = vec4(vec3(clamp(C.r / uSpecHi, 0.0, 1.0)), 1.0); return; }
  if (uView == 6) { frag = vec4(vec3(clamp(r, 0.0, 1.0)), 1.0); return; }
  if (uView == 7) { frag = vec4(clamp((B.xyz / max(length(B.xyz), 1e-12) + 1.0) * 0.5, 0.0, 1.0), 1.0); return; }
  if (uView == 8) { frag = vec4(vec3(clamp(C.g, 0.0, 1.0)), 1.0); return; }
  if (uView == 9) { frag = vec4(vec3(clamp(C.b, 0.0, 1.0)), 1.0); return; }
  vec3 diff = A.rgb * textureLod(uIrr, latlong(n), 0.0).rgb / PI;
  float mu = dot(n, v);
  vec3 spec = vec3(0.0);
  if (mu > 0.0) {  // relight's default "hybrid": split sum where n.v >= 0.5, sampled below
    spec = (uHybrid == 1 && mu < 0.5) ? specularSampled(n, v, A.a, r) : A.a * dirAlbedo(mu, r) * prefiltered(2.0 * mu * n - v, r);
  }
  vec3 x = uView == 1 ? diff : (uView == 2 ? spec : diff + spec);
  frag = vec4(toneMap(x), 1.0);
}`;

  function compile(gl, vs, fs) {
    const prog = gl.createProgram();
    for (const [type, src] of [[gl.VERTEX_SHADER, vs], [gl.FRAGMENT_SHADER, fs]]) {
      const sh = gl.createShader(type);
      gl.shaderSource(sh, src);
      gl.compileShader(sh);
      if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS)) throw new Error("shader: " + gl.getShaderInfoLog(sh));
      gl.attachShader(prog, sh);
    }
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error("link: " + gl.getProgramInfoLog(prog));
    return prog;
  }

  function tex2d(gl, w, h, fmt, data, wrapS) {
    const t = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, t);
    const [ifmt, f] = fmt === 4 ? [gl.RGBA16F, gl.RGBA] : fmt === 3 ? [gl.RGB16F, gl.RGB] : [gl.R16F, gl.RED];
    gl.texImage2D(gl.TEXTURE_2D, 0, ifmt, w, h, 0, f, gl.HALF_FLOAT, data);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, wrapS);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    return t;
  }

  function texArray(gl, w, h, layers, data) {
    const t = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D_ARRAY, t);
    gl.texImage3D(gl.TEXTURE_2D_ARRAY, 0, gl.RGB16F, w, h, layers, 0, gl.RGB, gl.HALF_FLOAT, data);
    gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_WRAP_S, gl.REPEAT);
    gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    return t;
  }

  // column-major 4x4 helpers
  function mul(a, b) {
    const o = new Float32Array(16);
    for (let c = 0; c < 4; c++) for (let r = 0; r < 4; r++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[k * 4 + r] * b[c * 4 + k];
      o[c * 4 + r] = s;
    }
    return o;
  }
  function invert(m) {
    const inv = new Float32Array(16), a = Array.from(m);
    // Gauss-Jordan on a 4x8 augmented matrix (row-major view of the column-major input's transpose)
    const M = [];
    for (let r = 0; r < 4; r++) M.push([a[r], a[4 + r], a[8 + r], a[12 + r], r === 0 ? 1 : 0, r === 1 ? 1 : 0, r === 2 ? 1 : 0, r === 3 ? 1 : 0]);
    for (let c = 0; c < 4; c++) {
      let p = c;
      for (let r = c + 1; r < 4; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
      [M[c], M[p]] = [M[p], M[c]];
      const d = M[c][c];
      for (let k = 0; k < 8; k++) M[c][k] /= d;
      for (let r = 0; r < 4; r++) if (r !== c) { const f = M[r][c]; for (let k = 0; k < 8; k++) M[r][k] -= f * M[c][k]; }
    }
    for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) inv[c * 4 + r] = M[r][4 + c];
    return inv;
  }
  function lookAt(eye, at) {
    const sub = (p, q) => [p[0] - q[0], p[1] - q[1], p[2] - q[2]];
    const nrm = (p) => { const l = Math.hypot(p[0], p[1], p[2]); return [p[0] / l, p[1] / l, p[2] / l]; };
    const cross = (p, q) => [p[1] * q[2] - p[2] * q[1], p[2] * q[0] - p[0] * q[2], p[0] * q[1] - p[1] * q[0]];
    const dot = (p, q) => p[0] * q[0] + p[1] * q[1] + p[2] * q[2];
    const f = nrm(sub(at, eye)), s = nrm(cross(f, [0, 1, 0])), u = cross(s, f);
    return new Float32Array([s[0], u[0], -f[0], 0, s[1], u[1], -f[1], 0, s[2], u[2], -f[2], 0,
      -dot(s, eye), -dot(u, eye), dot(f, eye), 1]);
  }
  function perspective(fovDeg, aspect, near, far) {
    const f = 1 / Math.tan((fovDeg * PI) / 360);
    return new Float32Array([f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) / (near - far), -1,
      0, 0, (2 * far * near) / (near - far), 0]);
  }

  async function start() {
    const el = document.getElementById("id2r-viewer-data");
    if (!el) return;
    const data = JSON.parse(el.textContent);
    const canvas = document.getElementById("id2r-canvas");
    const gl = canvas.getContext("webgl2", { preserveDrawingBuffer: true, antialias: false });
    if (!gl) { fail("WebGL2 is not available in this browser"); return; }
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    const nl = data.levels.length;
    const progMesh = compile(gl, VS_MESH, FS_MESH(nl));
    const progBg = compile(gl, VS_BG, FS_BG(nl));

    const m = data.mesh;
    const vao = gl.createVertexArray();
    gl.bindVertexArray(vao);
    for (const [name, b, size] of [["aPos", m.positions, 3], ["aUv", m.uvs, 2]]) {
      const buf = gl.createBuffer();
      gl.bindBuffer(gl.ARRAY_BUFFER, buf);
      gl.bufferData(gl.ARRAY_BUFFER, await blob(b), gl.STATIC_DRAW);
      const loc = gl.getAttribLocation(progMesh, name);
      gl.enableVertexAttribArray(loc);
      gl.vertexAttribPointer(loc, size, gl.FLOAT, false, 0, 0);
    }
    const ibuf = gl.createBuffer();
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, ibuf);
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, await blob(m.indices), gl.STATIC_DRAW);
    const indexType = m.indices.dtype === "u32" ? gl.UNSIGNED_INT : gl.UNSIGNED_SHORT;
    const emptyVao = gl.createVertexArray();

    const s = data.maps.size;
    const maps = [];
    for (const key of ["a", "b", "c"]) maps.push(tex2d(gl, s, s, 4, await blob(data.maps[key]), gl.REPEAT));
    const dfg = tex2d(gl, data.dfg.n, data.dfg.n, 1, await blob(data.dfg.table), gl.CLAMP_TO_EDGE);
    const envs = {};
    for (const e of data.environments) {
      const irr = tex2d(gl, e.irr_cols, e.irr_rows, 3, await blob(e.irradiance), gl.REPEAT);
      const ns = e.sharp_levels;
      const spec = texArray(gl, 2 * e.rows, e.rows, ns, await blob(e.sharp));
      const rough = texArray(gl, e.rows, e.rows / 2, nl - ns, await blob(e.rough));
      const bg = tex2d(gl, 4 * e.rows, 2 * e.rows, 3, await blob(e.background), gl.REPEAT);
      envs[e.name] = { irr, spec, rough, ns, bg, exposure: e.exposure_stops };
    }

    const cam = data.camera;
    const state = { env: data.environments[0].name, view: "lit", specular: "hybrid", az: 0, el: cam.elevation_deg, zoom: 1,
      rot: 0, exposure: envs[data.environments[0].name].exposure };

    function draw() {
      const env = envs[state.env];
      const w = canvas.width, h = canvas.height;
      gl.viewport(0, 0, w, h);
      const az = (state.az * PI) / 180, elv = (state.el * PI) / 180, dist = cam.distance * state.zoom;
      const c = cam.centre;
      const eye = [c[0] + dist * Math.sin(az) * Math.cos(elv), c[1] + dist * Math.sin(elv),
        c[2] + dist * Math.cos(az) * Math.cos(elv)];
      const vp = mul(perspective(cam.fov_deg, w / h, dist * 0.05, dist * 20), lookAt(eye, c));
      const ivp = invert(vp);
      const common = (p) => {
        gl.useProgram(p);
        gl.activeTexture(gl.TEXTURE0); gl.bindTexture(gl.TEXTURE_2D, env.irr);
        gl.activeTexture(gl.TEXTURE1); gl.bindTexture(gl.TEXTURE_2D_ARRAY, env.spec);
        gl.activeTexture(gl.TEXTURE2); gl.bindTexture(gl.TEXTURE_2D, dfg);
        gl.activeTexture(gl.TEXTURE6); gl.bindTexture(gl.TEXTURE_2D_ARRAY, env.rough);
        gl.uniform1i(gl.getUniformLocation(p, "uRough"), 6);
        gl.uniform1i(gl.getUniformLocation(p, "uSharp"), env.ns);
        gl.activeTexture(gl.TEXTURE7); gl.bindTexture(gl.TEXTURE_2D, env.bg);
        gl.uniform1i(gl.getUniformLocation(p, "uBg"), 7);
        gl.uniform1i(gl.getUniformLocation(p, "uIrr"), 0);
        gl.uniform1i(gl.getUniformLocation(p, "uSpec"), 1);
        gl.uniform1i(gl.getUniformLocation(p, "uDfg"), 2);
        gl.uniform1fv(gl.getUniformLocation(p, "uLevels"), data.levels);
        gl.uniform4f(gl.getUniformLocation(p, "uDfgGrid"), data.dfg.theta_max, data.dfg.r_min, 1.0, data.dfg.n);
        gl.uniform1f(gl.getUniformLocation(p, "uEnvRot"), (state.rot * PI) / 180);
        gl.uniform1f(gl.getUniformLocation(p, "uExposure"), state.exposure);
        gl.uniform3fv(gl.getUniformLocation(p, "uEye"), eye);
        gl.uniformMatrix4fv(gl.getUniformLocation(p, "uInvViewProj"), false, ivp);
      };
      gl.disable(gl.DEPTH_TEST);
      common(progBg);
      gl.bindVertexArray(emptyVao);
      gl.drawArrays(gl.TRIANGLES, 0, 3);
      gl.enable(gl.DEPTH_TEST);
      gl.clear(gl.DEPTH_BUFFER_BIT);
      common(progMesh);
      for (let i = 0; i < 3; i++) {
        gl.activeTexture(gl.TEXTURE3 + i);
        gl.bindTexture(gl.TEXTURE_2D, maps[i]);
        gl.uniform1i(gl.getUniformLocation(progMesh, "uA uB uC".split(" ")[i]), 3 + i);
      }
      gl.uniformMatrix4fv(gl.getUniformLocation(progMesh, "uViewProj"), false, vp);
      gl.uniform1i(gl.getUniformLocation(progMesh, "uView"), VIEWS.indexOf(state.view));
      gl.uniform1f(gl.getUniformLocation(progMesh, "uSpecHi"), data.maps.specular_hi);
      gl.uniform1i(gl.getUniformLocation(progMesh, "uHybrid"), state.specular === "split_sum" ? 0 : 1);
      gl.bindVertexArray(vao);
      gl.drawElements(gl.TRIANGLES, m.count, indexType, 0);
    }

    const hash = new URLSearchParams(location.hash.slice(1));
    if (hash.has("shots")) {
      const size = parseInt(hash.get("size") || "256", 10);
      canvas.width = size; canvas.height = size;
      canvas.style.width = size + "px"; canvas.style.height = size + "px";
      const shots = hash.get("shots").split(";");
      const defaults = Object.assign({}, state);
      shots.forEach((spec, i) => {  // each shot starts from the default view
        Object.assign(state, defaults);
        const kv = Object.fromEntries(spec.split(",").filter((x) => x).map((x) => x.split(":")));
        if (kv.env !== undefined) {
          if (!envs[kv.env]) throw new Error("unknown environment " + kv.env);
          state.env = kv.env;
          state.exposure = envs[kv.env].exposure;
        }
        if (kv.view !== undefined) {
          if (!VIEWS.includes(kv.view)) throw new Error("unknown view " + kv.view);
          state.view = kv.view;
        }
        if (kv.specular !== undefined) {
          if (kv.specular !== "hybrid" && kv.specular !== "split_sum") throw new Error("unknown specular " + kv.specular);
          state.specular = kv.specular;
        }
        for (const k of ["exposure", "az", "el", "zoom", "rot"]) if (kv[k] !== undefined) state[k] = parseFloat(kv[k]);
        draw();
        document.body.setAttribute("data-shot-" + i, canvas.toDataURL("image/png"));
      });
      document.body.setAttribute("data-shots", String(shots.length));
      document.body.setAttribute("data-load-ms", performance.now().toFixed(1));
      document.body.setAttribute("data-viewer", "ready");
      return;
    }

    // interactive controls
    const ui = (id) => document.getElementById(id);
    const envSel = ui("id2r-env"), viewSel = ui("id2r-view"), rot = ui("id2r-rot"), expo = ui("id2r-exposure");
    const expoOut = ui("id2r-exposure-value"), rotOut = ui("id2r-rot-value"), lit = ui("id2r-lit");
    expo.value = state.exposure;
    const sync = () => { expoOut.textContent = (+state.exposure).toFixed(1); rotOut.textContent = state.rot.toFixed(0); };
    let pending = false;
    const redraw = () => { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; resize(); draw(); }); } };
    function resize() {
      const dpr = window.devicePixelRatio || 1;
      const wpx = Math.round(canvas.clientWidth * dpr), hpx = Math.round(canvas.clientHeight * dpr);
      if (canvas.width !== wpx || canvas.height !== hpx) { canvas.width = wpx; canvas.height = hpx; }
    }
    envSel.addEventListener("change", () => { state.env = envSel.value; state.exposure = envs[state.env].exposure; expo.value = state.exposure; sync(); redraw(); });
    viewSel.addEventListener("change", () => { state.view = viewSel.value; redraw(); });
    lit.addEventListener("click", () => { state.view = state.view === "lit" ? "unlit" : "lit"; viewSel.value = state.view; redraw(); });
    rot.addEventListener("input", () => { state.rot = parseFloat(rot.value); sync(); redraw(); });
    expo.addEventListener("input", () => { state.exposure = parseFloat(expo.value); sync(); redraw(); });
    ui("id2r-reset").addEventListener("click", () => { state.az = 0; state.el = cam.elevation_deg; state.zoom = 1; redraw(); });
    let drag = null;
    canvas.addEventListener("pointerdown", (e) => {
      drag = [e.clientX, e.clientY];
      try { canvas.setPointerCapture(e.pointerId); } catch (err) { /* synthetic events have no active pointer */ }
    });
    canvas.addEventListener("pointerup", () => { drag = null; });
    canvas.addEventListener("pointermove", (e) => {
      if (!drag) return;
      state.az -= (e.clientX - drag[0]) * 0.4;
      state.el = Math.max(-85, Math.min(85, state.el + (e.clientY - drag[1]) * 0.4));
      drag = [e.clientX, e.clientY];
      redraw();
    });
    canvas.addEventListener("wheel", (e) => { e.preventDefault(); state.zoom = Math.max(0.2, Math.min(5, state.zoom * Math.exp(e.deltaY * 0.001))); redraw(); }, { passive: false });
    window.addEventListener("resize", redraw);
    sync();
    resize();
    draw();
    document.body.setAttribute("data-load-ms", performance.now().toFixed(1));
    if (hash.has("uitest")) uiTest();
    document.body.setAttribute("data-viewer", "ready");

    // Test hook "#uitest": drive every control with synthetic events, recording the state
    // (<body data-state-I>) and the canvas (<body data-shot-I>) after each step.
    function uiTest() {
      const fire = (el, type) => el.dispatchEvent(new Event(type));
      const pointer = (type, x, y) => canvas.dispatchEvent(new PointerEvent(type, { clientX: x, clientY: y, pointerId: 1 }));
      const steps = [
        () => {},
        () => { envSel.value = envSel.options[envSel.options.length - 1].value; fire(envSel, "change"); },
        () => { viewSel.value = "normals"; fire(viewSel, "change"); },
        () => { lit.click(); lit.click(); },  // normals -> lit -> unlit
        () => { lit.click(); rot.value = "90"; fire(rot, "input"); },
        () => { expo.value = String(state.exposure + 2); fire(expo, "input"); },
        () => { pointer("pointerdown", 100, 100); pointer("pointermove", 150, 90); pointer("pointerup", 150, 90); },
        () => { canvas.dispatchEvent(new WheelEvent("wheel", { deltaY: -500, cancelable: true })); },
        () => { ui("id2r-reset").click(); },
      ];
      steps.forEach((step, i) => {
        step();
        resize();
        draw();
        document.body.setAttribute("data-state-" + i, JSON.stringify(state));
        document.body.setAttribute("data-shot-" + i, canvas.toDataURL("image/png"));
      });
      document.body.setAttribute("data-shots", String(steps.length));
    }
  }

  window.addEventListener("load", () => { start().catch((e) => fail(e && e.message ? e.message : String(e))); });
})();
