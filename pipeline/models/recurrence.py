"""The DVRNN's inference recurrence as one autograd Function, with its backward pass through time
written out.

Per step t, on N = K * B rows (particles folded into the batch, rows k * B + b) with the first
layers split by input (DVRNN.split_weights):

    pre_t  = h_{t-1} W_h^T + P_t[b] + W_y[y_t]          P_t: the x (and u) parts and biases, [B, 5H]
    y_t    = choose_y(t, h_{t-1} R_h^T + R_t[b])         sampled from q (R: q's first layer) or forced; no gradient
    enc, g = pre_t[:, :H], pre_t[:, H:]                  encoder_z's hidden layer | LSTM gates
    loc, raw = relu(enc) W_out^T + b_out                 q(z_t | ...)
    z_t    = loc + eps_t * (softplus(raw) + 1e-3)        reparameterised
    gates  = g + z_t W_z^T                               (embed_z folded into the LSTM, see split_weights)
    c_t, h_t = LSTM cell (gate order i, f, g, o)

Autograd would record some thirty small operations per step and form every weight gradient step
by step.  Here the forward pass runs without a graph, and the backward pass runs the recurrence
in reverse with a dozen operations per step: everything that depends on the forward values alone
(activation derivatives, the softplus and ReLU slopes) is formed for all steps at once before
the reverse loop, and every weight gradient is one product over all T * N rows after it.
tests/test_models.py checks values and gradients against the layers as written, under autograd.
"""
import torch
import torch.nn.functional as F


class InferenceRecurrence(torch.autograd.Function):
    """Outputs, time-major: h_{t-1} [T, N, H], z, loc, scale [T, N, Z], y [T, N] (long), h_T, c_T.

    choose_y(t, read) -> y_t [N]; read = h_{t-1} read_h^T + read_x[t][b], the first layer of
    whatever y_t reads (q's), formed in the same product as pre_t and given no gradient here."""

    @staticmethod
    def forward(ctx, pre_x, w_h, w_y, w_out, b_out, w_z, h0, c0, eps, choose_y=None, read_h=None, read_x=None):
        T, B, P = pre_x.shape
        (N, H), Z = h0.shape, eps.shape[-1]
        w_all = w_h if read_h is None else torch.cat([w_h, read_h])
        x_all = pre_x if read_x is None else torch.cat([pre_x, read_x], -1)
        x_all = x_all[:, None].expand(T, N // B, B, x_all.shape[-1]).reshape(T, N, -1)     # one row per particle
        # every step writes its values into slices of these (time-major), so nothing is stacked afterwards;
        # hs[t] and cs[t] hold the state step t reads, hs[T] and cs[T] the final one
        new = lambda *shape, n=T: h0.new_empty(n, N, *shape)  # noqa: E731
        hs, cs, sig, g, tc, a, out, z, scale = (new(H, n=T + 1), new(H, n=T + 1), new(4 * H), new(H), new(H), new(H),
                                                new(2 * Z), new(Z), new(Z))
        y = torch.zeros(T, N, dtype=torch.long, device=h0.device)
        hs[0], cs[0] = h0, c0
        for t in range(T):
            pre = torch.addmm(x_all[t], hs[t], w_all.T)
            if w_y is not None:
                y[t] = choose_y(t, pre[:, P:])
                pre[:, :P].add_(w_y.index_select(0, y[t]))
            torch.clamp(pre[:, :H], min=0, out=a[t])                                       # relu
            torch.addmm(b_out, a[t], w_out.T, out=out[t])                                  # loc | raw
            torch.add(F.softplus(out[t])[:, Z:], 1e-3, out=scale[t])
            torch.addcmul(out[t, :, :Z], eps[t], scale[t], out=z[t])
            gates = torch.addmm(pre[:, H:P], z[t], w_z.T)
            torch.sigmoid(gates, out=sig[t])
            torch.tanh(gates[:, 2 * H:3 * H], out=g[t])
            torch.addcmul(sig[t, :, H:2 * H] * cs[t], sig[t, :, :H], g[t], out=cs[t + 1])
            torch.tanh(cs[t + 1], out=tc[t])
            torch.mul(sig[t, :, 3 * H:], tc[t], out=hs[t + 1])
        h_new, c_new = hs[T].clone(), cs[T].clone()
        hs, cs = hs[:T], cs[:T]
        ctx.mark_non_differentiable(y)
        ctx.has_y, ctx.B = w_y is not None, B
        ctx.save_for_backward(w_h, w_y, w_out, w_z, eps, y, hs, cs, a, out, sig, g, tc, z)
        return hs, z, out[..., :Z], scale, y, h_new, c_new

    @staticmethod
    def backward(ctx, d_hs, d_z, d_loc, d_scale, _d_y, d_h, d_c):
        w_h, w_y, w_out, w_z, eps, y, hs, cs, a, out, sig, g, tc, zs = ctx.saved_tensors
        T, N, H = hs.shape
        Z = zs.shape[-1]
        i, f, o = sig[..., :H], sig[..., H:2 * H], sig[..., 3 * H:]
        # what depends on the forward values alone, for every step at once
        slope = sig * (1 - sig)
        gate_factor = torch.cat([g * slope[..., :H], cs * slope[..., H:2 * H], i * (1 - g * g),
                                 tc * slope[..., 3 * H:]], -1)                      # d gates / d(dc, dc, dc, dh)
        cell_factor = o * (1 - tc * tc)                                             # d c_t / d h_t
        soft = torch.sigmoid(out[..., Z:])
        out_factor = torch.cat([torch.ones_like(soft), eps * soft], -1)             # d (loc, raw) / d z
        out_given = torch.cat([d_loc, d_scale * soft], -1)                          # from loc and scale directly
        relu_mask = (a > 0).to(a.dtype)
        # every step writes its gradients into slices of these, as the forward pass did
        d_pre, d_out = hs.new_empty(T, N, 5 * H), hs.new_empty(T, N, 2 * Z)
        d_h, d_c = d_h.contiguous(), d_c.contiguous()
        for t in reversed(range(T)):
            d_c = torch.addcmul(d_c, d_h, cell_factor[t])
            torch.mul(gate_factor[t, :, :3 * H].view(N, 3, H), d_c[:, None], out=d_pre[t, :, H:4 * H].view(N, 3, H))
            torch.mul(gate_factor[t, :, 3 * H:], d_h, out=d_pre[t, :, 4 * H:])
            d_c = d_c * f[t]
            d_zt = torch.addmm(d_z[t], d_pre[t, :, H:], w_z)
            torch.addcmul(out_given[t], torch.cat([d_zt, d_zt], -1), out_factor[t], out=d_out[t])
            torch.mul(torch.mm(d_out[t], w_out), relu_mask[t], out=d_pre[t, :, :H])
            d_h = torch.addmm(d_hs[t], d_pre[t], w_h)
        d_pre, d_out = d_pre.flatten(0, 1), d_out.flatten(0, 1)
        grads = dict(
            pre_x=d_pre.view(T, -1, ctx.B, d_pre.shape[-1]).sum(1),
            w_h=d_pre.T @ hs.flatten(0, 1),
            w_y=F.one_hot(y.flatten(), w_y.shape[0]).to(d_pre.dtype).T @ d_pre if ctx.has_y else None,
            w_out=d_out.T @ a.flatten(0, 1),
            b_out=d_out.sum(0),
            w_z=d_pre[:, H:].T @ zs.flatten(0, 1))
        return (*grads.values(), d_h, d_c, None, None, None, None)
