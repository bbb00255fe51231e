"""Image registration in torch (layer 0): similarity measures, the differentiable warp, rigid / affine / dense
deformable transforms, their regularisers, and multi-resolution optimisation of N pairs at once."""

from pixelwise.registration.optimise import TRANSFORMS, Registration, inverse_consistency, pyramid_shapes, register
from pixelwise.registration.regularisers import REGULARISERS, bending, diffusion, jacobian_determinant
from pixelwise.registration.similarity import MEASURES, joint_histogram, local_ncc, loss, measure, ncc, nmi, sad, ssd
from pixelwise.registration.transforms import Displacement, LinearTransform
from pixelwise.registration.warp import affine_grid, centred_points, displacement_grid, resize, warp

__all__ = ["MEASURES", "REGULARISERS", "TRANSFORMS", "Displacement", "LinearTransform", "Registration", "affine_grid",
           "bending", "centred_points", "diffusion", "displacement_grid", "inverse_consistency", "jacobian_determinant",
           "joint_histogram", "local_ncc", "loss", "measure", "ncc", "nmi", "pyramid_shapes", "register", "resize",
           "sad", "ssd", "warp"]
